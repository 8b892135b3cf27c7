//! The keyword a PostgreSQL statement starts with, read as PostgreSQL's own
//! lexer reads it: whitespace, empty statements (`;`), `--` line comments
//! and (nested) `/* */` block comments before it are skipped, so that none
//! of them hides it.

/// The statement's first keyword, as written (compare it case-blind), or
/// `""` when the statement does not start with one.
pub fn leading_keyword(sql: &str) -> &str {
    let rest = skip_blank(sql);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Whether the statement's first keyword is one of `words`.
pub fn starts_with(sql: &str, words: &[&str]) -> bool {
    let first = leading_keyword(sql);
    words.iter().any(|word| first.eq_ignore_ascii_case(word))
}

/// Whether the statement opens a transaction block that outlives it
/// (`BEGIN`, `START TRANSACTION`): the only statements that do.
pub fn opens_transaction(sql: &str) -> bool {
    starts_with(sql, &["begin", "start"])
}

/// `sql` past its leading whitespace and comments. An unterminated block
/// comment leaves nothing (PostgreSQL refuses such a statement).
fn skip_blank(mut sql: &str) -> &str {
    loop {
        // PostgreSQL's whitespace (space, tab, newline, carriage return,
        // form feed, vertical tab), and semicolons: `;BEGIN` is one
        // statement, the empty ones before it are dropped.
        sql = sql.trim_start_matches([' ', '\t', '\n', '\r', '\x0c', '\x0b', ';']);
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.find(['\n', '\r']).map_or("", |end| &rest[end..]);
        } else if sql.starts_with("/*") {
            sql = past_block_comment(sql);
        } else {
            return sql;
        }
    }
}

/// `sql` (which starts with `/*`) past the block comment, nesting counted.
fn past_block_comment(sql: &str) -> &str {
    let bytes = sql.as_bytes();
    let (mut depth, mut at) = (0usize, 0usize);
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') => {
                depth += 1;
                at += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return &sql[at..];
                }
            }
            _ => at += 1,
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::{leading_keyword, opens_transaction};

    #[test]
    fn comments_and_whitespace_do_not_hide_the_first_keyword() {
        assert_eq!(leading_keyword("  select 1"), "select");
        assert_eq!(leading_keyword("-- a\nBEGIN"), "BEGIN");
        assert_eq!(
            leading_keyword("/* a /* nested */ still */\x0bstart transaction"),
            "start"
        );
        assert_eq!(leading_keyword("/* a */ -- b\r\n/**/begin;"), "begin");
        assert_eq!(leading_keyword(";; ;BEGIN"), "BEGIN");
        assert_eq!(leading_keyword("(select 1)"), "");
        assert_eq!(leading_keyword("/* never closed BEGIN"), "");
        assert_eq!(leading_keyword("-- only a comment BEGIN"), "");
    }

    #[test]
    fn only_begin_and_start_open_a_transaction_block() {
        for sql in [
            "BEGIN",
            "begin isolation level serializable",
            "/**/ Start Transaction",
            "BEGIN;",
        ] {
            assert!(opens_transaction(sql), "{sql}");
        }
        for sql in [
            "COMMIT",
            "beginning",
            "SELECT 'BEGIN'",
            "starts",
            "-- BEGIN\nSELECT 1",
        ] {
            assert!(!opens_transaction(sql), "{sql}");
        }
    }
}

//! The JSON Schema `pattern` keyword, matched so that what one request's
//! matching costs is measured and bounded. A pattern compiles (as JSON
//! Schema reads it: ECMA-262, translated as the validator would, with
//! ECMA's ASCII word boundaries) to a Thompson NFA of bounded size; a lazy
//! DFA then reads the value a byte at a time, stepped here rather than
//! inside a regex engine, so that it can stop between any two steps. Matching never backtracks, and look-around
//! and backreferences are refused at deploy; but the DFA of a pattern such
//! as `[ab]*a[ab]{1000}[^ab]` has a new state for nearly every byte of a
//! random value, and building one costs up to the NFA's size: such a
//! pattern costs milliseconds per kilobyte. So every request's matching
//! has a budget of CPU time ([`Budget`]), read from the thread's own CPU
//! clock (time the thread is not running does not count) every
//! [`CHECK_EVERY`] bytes and after each new DFA state. Once it is spent,
//! matching stops at once and the request is refused (a 422), however large
//! the pattern and the value.

use std::sync::Mutex;

pub use super::budget::Budget;

use jsonschema::{Keyword, ValidationError};
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Capture, Hir, HirKind, Look, Repetition};
use serde_json::{Map, Value};

/// Bytes read between two looks at the clock, when no new DFA state was
/// built meanwhile (a known transition takes a nanosecond or two).
const CHECK_EVERY: usize = 4096;
/// Memory each pattern's lazy DFA may use for its states, per search.
const CACHE_BYTES: usize = 256 * 1024;
/// Caches kept for reuse per pattern (more concurrent searches make their
/// own), each grown at most [`POOLED_CACHE_GROWTH`] past a new one's size:
/// one a costly value filled is dropped, not kept.
const POOLED_CACHES: usize = 2;
const POOLED_CACHE_GROWTH: usize = 64 * 1024;

/// A compiled `pattern`.
pub struct Pattern {
    source: String,
    dfa: DFA,
    /// NFA states.
    states: u64,
    caches: Mutex<Vec<Cache>>,
    /// What a new cache takes.
    fresh_cache_bytes: usize,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pattern")
            .field("source", &self.source)
            .field("states", &self.states)
            .finish_non_exhaustive()
    }
}

impl Pattern {
    /// Compiles an ECMA-262 pattern, its NFA at most `nfa_bytes` (the limit
    /// the `regex` engine applied before: what deployed then deploys now).
    pub fn compile(source: &str, nfa_bytes: usize) -> Result<Pattern, String> {
        let translated = jsonschema_regex::to_rust_regex(source)
            .map_err(|()| format!("`{}` is not a valid pattern", clip(source)))?;
        let refused = |e: &dyn std::error::Error| {
            format!(
                "pattern `{}` cannot be used: {} (look-around and backreferences are not supported, and a pattern must compile to at most {nfa_bytes} bytes)",
                clip(source),
                clip(&chain(e))
            )
        };
        let hir =
            syntax::parse_with(&translated, &syntax::Config::new()).map_err(|e| refused(&e))?;
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(nfa_bytes)))
            .build_from_hir(&ascii_words(&hir))
            .map_err(|e| refused(&e))?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .cache_capacity(CACHE_BYTES)
                    .skip_cache_capacity_check(true),
            )
            .build_from_nfa(nfa)
            .map_err(|e| refused(&e))?;
        let states = dfa.get_nfa().states().len() as u64;
        let fresh_cache_bytes = dfa.create_cache().memory_usage();
        Ok(Pattern {
            source: source.to_string(),
            dfa,
            states,
            caches: Mutex::new(Vec::new()),
            fresh_cache_bytes,
        })
    }

    /// How many states its NFA has.
    pub fn states(&self) -> u64 {
        self.states
    }

    /// The memory its NFA holds.
    pub fn memory(&self) -> usize {
        self.dfa.get_nfa().memory_usage()
    }

    /// Whether `text` matches anywhere, or `None` when the request's budget
    /// ran out first.
    pub fn is_match(&self, text: &str) -> Option<bool> {
        if !Budget::running() {
            let (found, exhausted) = Budget::run(Budget::DEFAULT, || self.is_match(text));
            return found.filter(|_| !exhausted);
        }
        let pooled = self.caches.lock().unwrap_or_else(|p| p.into_inner()).pop();
        // A new cache costs up to the NFA's size to set up, whatever the
        // value: a look at the clock.
        if pooled.is_none() && Budget::spent() {
            return None;
        }
        let mut cache = pooled.unwrap_or_else(|| self.dfa.create_cache());
        let found = self.search(&mut cache, text.as_bytes());
        if cache.memory_usage() <= self.fresh_cache_bytes + POOLED_CACHE_GROWTH {
            let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
            if caches.len() < POOLED_CACHES {
                caches.push(cache);
            }
        }
        match found {
            Searched::Done(found) => Some(found),
            // The DFA gives up only where it cannot tell, which a pattern
            // without Unicode word boundaries never makes it do: refused.
            Searched::OutOfBudget | Searched::GaveUp => None,
        }
    }

    /// The lazy DFA over `hay`, unanchored, stopping at the first match,
    /// and at once when the budget is spent.
    fn search(&self, cache: &mut Cache, hay: &[u8]) -> Searched {
        let input = Input::new(hay).anchored(Anchored::No).earliest(true);
        let grown = cache.memory_usage();
        let Ok(mut sid) = self.dfa.start_state_forward(cache, &input) else {
            return Searched::GaveUp;
        };
        // A start state built is a state built: a look at the clock.
        if cache.memory_usage() != grown && Budget::spent() {
            return Searched::OutOfBudget;
        }
        let mut unchecked = 0usize;
        for &byte in hay {
            if sid.is_tagged() {
                if sid.is_match() {
                    return Searched::Done(true);
                }
                if sid.is_dead() {
                    return Searched::Done(false);
                }
                if sid.is_quit() {
                    return Searched::GaveUp;
                }
            }
            let known = if sid.is_tagged() {
                None
            } else {
                Some(self.dfa.next_state_untagged(cache, sid, byte)).filter(|n| !n.is_unknown())
            };
            sid = match known {
                Some(next) => next,
                None => {
                    // A state to build: up to the NFA's size of work.
                    unchecked = CHECK_EVERY;
                    match self.dfa.next_state(cache, sid, byte) {
                        Ok(next) => next,
                        Err(_) => return Searched::GaveUp,
                    }
                }
            };
            unchecked += 1;
            if unchecked >= CHECK_EVERY {
                unchecked = 0;
                if Budget::spent() {
                    return Searched::OutOfBudget;
                }
            }
        }
        if sid.is_match() {
            return Searched::Done(true);
        }
        if sid.is_dead() {
            return Searched::Done(false);
        }
        let grown = cache.memory_usage();
        let end = match self.dfa.next_eoi_state(cache, sid) {
            Ok(end) if end.is_quit() => return Searched::GaveUp,
            Ok(end) => end,
            Err(_) => return Searched::GaveUp,
        };
        if cache.memory_usage() != grown && Budget::spent() {
            return Searched::OutOfBudget;
        }
        Searched::Done(end.is_match())
    }
}

enum Searched {
    Done(bool),
    OutOfBudget,
    GaveUp,
}

/// `hir` with ECMA-262's word boundaries: `\b` and `\B` are of ASCII
/// word characters (`[A-Za-z0-9_]`), as ECMA's `\w` is. (Rust's would be
/// Unicode's, which a lazy DFA cannot step through non-ASCII text.)
fn ascii_words(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Look(look) => Hir::look(match look {
            Look::WordUnicode => Look::WordAscii,
            Look::WordUnicodeNegate => Look::WordAsciiNegate,
            Look::WordStartUnicode => Look::WordStartAscii,
            Look::WordEndUnicode => Look::WordEndAscii,
            Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
            Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
            other => *other,
        }),
        HirKind::Repetition(repetition) => Hir::repetition(Repetition {
            sub: Box::new(ascii_words(&repetition.sub)),
            ..repetition.clone()
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            sub: Box::new(ascii_words(&capture.sub)),
            ..capture.clone()
        }),
        HirKind::Concat(parts) => Hir::concat(parts.iter().map(ascii_words).collect()),
        HirKind::Alternation(parts) => Hir::alternation(parts.iter().map(ascii_words).collect()),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => hir.clone(),
    }
}

/// An error and what caused it, in one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The `pattern` keyword, over [`Pattern`]. Once the request's budget is
/// spent, every value counts as matching: the check as a whole is then
/// refused by its caller, which reads [`Budget::run`]'s flag.
struct PatternKeyword(Pattern);

impl<'i> Keyword<'i> for PatternKeyword {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            return Ok(());
        }
        let Value::String(text) = instance else {
            return Ok(());
        };
        // The validator keeps a copy of the value with the error: bounded
        // per run, and the message quotes only its start.
        if !Budget::quote(text.len()) {
            return Ok(());
        }
        let mut start: String = text.chars().take(64).collect();
        if start.len() < text.len() {
            start.push('…');
        }
        Err(ValidationError::custom(format!(
            "{} does not match \"{}\"",
            Value::String(start),
            clip(&self.0.source)
        )))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        let Value::String(text) = instance else {
            return true;
        };
        if Budget::exhausted() {
            return true;
        }
        // In a run, a value left unchecked fails the run as a whole; alone,
        // it fails itself.
        self.0.is_match(text).unwrap_or(Budget::running())
    }
}

/// Validator options whose `pattern`s are [`Pattern`]s of at most
/// `nfa_bytes`, and whose `format: regex` (which would check a client's
/// string as a regular expression, in time that grows with its square)
/// refuses strings longer than [`MAX_REGEX_FORMAT_BYTES`].
pub fn options(nfa_bytes: usize) -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_keyword(
            "pattern",
            move |_: &Map<String, Value>, value: &Value, _| {
                let Value::String(source) = value else {
                    return Err(ValidationError::schema("`pattern` must be a string"));
                };
                let pattern =
                    Pattern::compile(source, nfa_bytes).map_err(ValidationError::schema)?;
                Ok(Box::new(PatternKeyword(pattern)) as Box<dyn for<'i> Keyword<'i>>)
            },
        )
        .with_format("regex", |text: &str| {
            text.len() <= MAX_REGEX_FORMAT_BYTES && jsonschema_regex::is_valid_ecma_regex(text)
        })
}

/// The longest string `format: regex` checks.
pub const MAX_REGEX_FORMAT_BYTES: usize = 4096;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pattern(source: &str) -> Pattern {
        Pattern::compile(source, 1 << 20).unwrap()
    }

    /// `len` pseudo-random `a`s and `b`s.
    fn ab(len: usize) -> String {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x & 1 == 0 { 'a' } else { 'b' }
            })
            .collect()
    }

    #[test]
    fn patterns_match_as_json_schema_reads_them() {
        for (source, text, expected) in [
            ("^a+$", "aaa", true),
            ("^a+$", "aab", false),
            ("b", "abc", true),
            (r"^\d+$", "123", true),
            (r"^\d+$", "١٢٣", false), // ECMA's \d is ASCII
            (r"\S", "  x ", true),
            (r"\S", " \u{a0}", false), // and \s is ECMA's white space
            ("^.$", "\u{2028}", false),
            (r"\bword\b", "a word here", true),
            (r"\bword\b", "sword", false),
            ("^$", "", true),
            ("x", "", false),
        ] {
            let (found, exhausted) =
                Budget::run(Budget::DEFAULT, || pattern(source).is_match(text));
            assert_eq!(found, Some(expected), "{source} on {text:?}");
            assert!(!exhausted);
        }
    }

    #[test]
    fn word_boundaries_are_ecmas_ascii_ones() {
        // ECMA's \w is [A-Za-z0-9_]: `é` is not a word character, so there
        // is a boundary between `caf` and `é`, and none before a lone `é`.
        for (text, expected) in [("café", true), ("é", false), ("a b", true)] {
            let (found, exhausted) =
                Budget::run(Budget::DEFAULT, || pattern(r"[a-z]\b").is_match(text));
            assert_eq!((found, exhausted), (Some(expected), false), "{text:?}");
        }
        let (found, _) = Budget::run(Budget::DEFAULT, || pattern(r"\Bé").is_match("x é"));
        assert_eq!(found, Some(true));
    }

    #[test]
    fn many_empty_values_against_a_large_pattern_stop_at_the_budget_too() {
        let large = pattern("(?:[a-z]?){5000}");
        let started = std::time::Instant::now();
        let ((), exhausted) = Budget::run(Duration::from_millis(5), || {
            for _ in 0..100_000 {
                if large.is_match("").is_none() {
                    break;
                }
            }
        });
        // Warm caches make most of them cheap; the clock is read for each
        // cold one.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let _ = exhausted;
    }

    #[test]
    fn errors_quote_a_bounded_start_of_the_value_and_a_bounded_total() {
        let schema = serde_json::json!({"anyOf": (0..50).map(|i| serde_json::json!({"pattern": format!("^a{{{i}}}b")})).collect::<Vec<_>>()});
        let validator = options(1 << 20).build(&schema).unwrap();
        let value = Value::String("\u{1}".repeat(1 << 20));
        let (_, exhausted) = Budget::run(Budget::DEFAULT, || validator.iter_errors(&value).count());
        // Eight branches' worth of 1 MiB copies, then the run is spent (and
        // the request refused), rather than 50.
        assert!(exhausted);
        // One error quotes the start of the value, not all of it.
        let one = options(1 << 20)
            .build(&serde_json::json!({"pattern": "^b"}))
            .unwrap();
        let long = Value::String("a".repeat(100_000));
        let message = one.iter_errors(&long).next().unwrap().to_string();
        assert!(message.len() < 200, "{}", message.len());
        assert!(message.contains("does not match \"^b\""), "{message}");
    }

    #[test]
    fn look_around_backreferences_and_huge_patterns_are_refused() {
        for source in ["^(?=a)a$", r"(a)\1", "[", "a{100000}", r"\p{L}{1,1000}"] {
            assert!(Pattern::compile(source, 1 << 20).is_err(), "{source}");
        }
        // What fits the engine's size limit compiles: the budget, not the
        // size, bounds what matching costs.
        assert!(Pattern::compile("[ab]*a[ab]{3000}[^ab]", 1 << 20).is_ok());
        assert!(Pattern::compile("^.{1,1000}$", 1 << 20).is_ok());
    }

    #[test]
    fn a_pattern_built_to_defeat_the_dfa_stops_at_the_budget() {
        let evil = pattern("[ab]*a[ab]{3000}[^ab]");
        let text = ab(200_000);
        let started = std::time::Instant::now();
        let (found, exhausted) = Budget::run(Duration::from_millis(20), || evil.is_match(&text));
        assert_eq!(found, None);
        assert!(exhausted);
        // Unchecked, this value takes seconds.
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        // The same value against a cheap pattern is linear: done in time.
        let (found, exhausted) = Budget::run(Duration::from_millis(20), || {
            pattern("^[ab]+$").is_match(&text)
        });
        assert_eq!((found, exhausted), (Some(true), false));
    }

    #[test]
    fn the_budget_is_per_run_restored_after_and_alone_a_value_it_cannot_finish_does_not_match() {
        let cheap = pattern("z");
        let text = "a".repeat(10 * CHECK_EVERY);
        let ((), exhausted) = Budget::run(Duration::ZERO, || {
            std::hint::black_box((0..1_000_000).sum::<u64>());
            assert_eq!(cheap.is_match(&text), None);
        });
        assert!(exhausted);
        assert!(!Budget::running());
        let (found, exhausted) = Budget::run(Duration::from_secs(1), || cheap.is_match(&text));
        assert_eq!((found, exhausted), (Some(false), false));
        // Outside a run, a match is a run of its own.
        let schema = serde_json::json!({"type": "string", "pattern": "[ab]*a[ab]{3000}[^ab]"});
        let validator = options(1 << 20).build(&schema).unwrap();
        assert!(!validator.is_valid(&Value::String(ab(200_000))));
        assert!(!Budget::running());
    }

    #[test]
    fn a_panic_in_a_run_leaves_no_run_behind() {
        let caught =
            std::panic::catch_unwind(|| Budget::run(Budget::DEFAULT, || panic!("in a check")));
        assert!(caught.is_err());
        assert!(!Budget::running());
    }

    #[test]
    fn a_client_string_checked_as_a_regex_is_bounded() {
        let schema = serde_json::json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string", "format": "regex"});
        let validator = options(1 << 20).build(&schema).unwrap();
        assert!(validator.is_valid(&Value::String("^a+$".into())));
        assert!(!validator.is_valid(&Value::String("(".into())));
        // Its check grows with the square of the names it declares.
        let named: String = (0..100_000).map(|i| format!("(?<a{i}>)")).collect();
        let started = std::time::Instant::now();
        assert!(!validator.is_valid(&Value::String(named)));
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}

//! The capability on its own, as the guest sees it: its `Host` impls over
//! a real SQLite namespace, with no service, store or HTTP around it.

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};

use super::sqlite::SqliteStore;
use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    namespace: Arc<Namespace>,
    table: ResourceTable,
}

async fn fixture() -> Fixture {
    let dir = tempfile::TempDir::new().unwrap();
    let namespaces = Namespaces::new(SqliteStore::new(dir.path()));
    let namespace = namespaces
        .get("acme", "notes", &NamespaceLimits::default())
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        namespace,
        table: ResourceTable::new(),
    }
}

fn ctx(namespace: &Arc<Namespace>, max_statements: u32) -> DatabaseCtx {
    DatabaseCtx::new(
        Some(namespace.clone()),
        ResultLimits {
            max_rows: 2,
            max_bytes: 1 << 20,
        },
        max_statements,
    )
}

fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}

#[tokio::test]
async fn statements_run_on_the_namespace_within_the_request_budget() {
    let mut f = fixture().await;
    let mut ctx = ctx(&f.namespace, 4);
    let mut db = DatabaseView {
        ctx: &mut ctx,
        table: &mut f.table,
    };
    assert_eq!(db.current_dialect().await.unwrap(), Dialect::Sqlite);
    Host::execute(&mut db, "CREATE TABLE notes (body TEXT)".into(), vec![])
        .await
        .unwrap()
        .unwrap();
    let inserted = Host::execute(
        &mut db,
        "INSERT INTO notes VALUES (?), (?), (?)".into(),
        vec![text("a"), text("b"), text("c")],
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(inserted, 3);
    // Three rows where two may be returned: refused, not truncated.
    let over = Host::query(&mut db, "SELECT body FROM notes".into(), vec![])
        .await
        .unwrap();
    assert!(matches!(over, Err(Error::LimitExceeded(_))), "{over:?}");
    let rows = Host::query(
        &mut db,
        "SELECT body FROM notes ORDER BY body LIMIT 2".into(),
        vec![],
    );
    // The fourth statement of a four-statement budget runs; the fifth
    // does not, whatever it is.
    let rows = rows.await.unwrap().unwrap();
    assert_eq!(rows.columns, vec!["body".to_string()]);
    assert_eq!(
        format!("{:?}", rows.rows),
        r#"[[Value::Text("a")], [Value::Text("b")]]"#
    );
    let fifth = Host::query(&mut db, "SELECT 1".into(), vec![])
        .await
        .unwrap();
    assert!(matches!(fifth, Err(Error::LimitExceeded(_))), "{fifth:?}");
}

#[tokio::test]
async fn oversized_statements_and_parameter_lists_are_refused_before_the_database() {
    let mut f = fixture().await;
    let mut ctx = ctx(&f.namespace, 10);
    let mut db = DatabaseView {
        ctx: &mut ctx,
        table: &mut f.table,
    };
    let long = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES));
    let refused = Host::query(&mut db, long, vec![]).await.unwrap();
    assert!(
        matches!(refused, Err(Error::LimitExceeded(_))),
        "{refused:?}"
    );
    let many = vec![Value::Null; MAX_PARAMETERS + 1];
    let refused = Host::execute(&mut db, "SELECT 1".into(), many)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(Error::LimitExceeded(_))),
        "{refused:?}"
    );
    // Refused before charging: the whole budget is left.
    assert_eq!(db.ctx.statements_left, 10);
}

#[tokio::test]
async fn transactions_live_in_the_resource_table_and_roll_back_when_dropped() {
    let mut f = fixture().await;
    let mut ctx = ctx(&f.namespace, 20);
    let mut db = DatabaseView {
        ctx: &mut ctx,
        table: &mut f.table,
    };
    Host::execute(&mut db, "CREATE TABLE n (v INTEGER)".into(), vec![])
        .await
        .unwrap()
        .unwrap();

    let tx = db.begin().await.unwrap().unwrap();
    let rep = Resource::new_borrow(tx.rep());
    HostTransaction::execute(&mut db, rep, "INSERT INTO n VALUES (1)".into(), vec![])
        .await
        .unwrap()
        .unwrap();
    HostTransaction::commit(&mut db, tx).await.unwrap().unwrap();

    let tx = db.begin().await.unwrap().unwrap();
    let rep = Resource::new_borrow(tx.rep());
    HostTransaction::execute(&mut db, rep, "INSERT INTO n VALUES (2)".into(), vec![])
        .await
        .unwrap()
        .unwrap();
    HostTransaction::drop(&mut db, tx).await.unwrap();
    assert!(
        db.table.is_empty(),
        "a dropped transaction leaves no resource"
    );

    let rows = Host::query(&mut db, "SELECT v FROM n".into(), vec![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format!("{:?}", rows.rows), "[[Value::Integer(1)]]");
}

#[tokio::test]
async fn without_the_grant_every_call_is_refused() {
    let mut table = ResourceTable::new();
    let mut ctx = DatabaseCtx::new(None, ResultLimits::default(), 10);
    let mut db = DatabaseView {
        ctx: &mut ctx,
        table: &mut table,
    };
    let refused = Host::query(&mut db, "SELECT 1".into(), vec![])
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(Error::NotPermitted(_))),
        "{refused:?}"
    );
    assert!(matches!(
        db.begin().await.unwrap(),
        Err(Error::NotPermitted(_))
    ));
}

#[tokio::test]
async fn the_service_cannot_reach_outside_its_namespace() {
    let mut f = fixture().await;
    let mut ctx = ctx(&f.namespace, 10);
    let mut db = DatabaseView {
        ctx: &mut ctx,
        table: &mut f.table,
    };
    for sql in [
        "ATTACH DATABASE '/tmp/elsewhere.db' AS other",
        "PRAGMA writable_schema = ON",
        "SELECT load_extension('x')",
    ] {
        let refused = Host::execute(&mut db, sql.into(), vec![]).await.unwrap();
        assert!(refused.is_err(), "`{sql}` was allowed");
    }
}

#[test]
fn it_links_into_any_store_that_gives_a_view() {
    struct Data {
        ctx: DatabaseCtx,
        table: ResourceTable,
    }
    let engine = wasmtime::Engine::default();
    let mut linker = Linker::<Data>::new(&engine);
    add_to_linker(&mut linker, |d| DatabaseView {
        ctx: &mut d.ctx,
        table: &mut d.table,
    })
    .unwrap();
}

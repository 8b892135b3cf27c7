//! `berth:service/database`: SQL on the deployment's own namespace — the
//! whole capability. This module gives it to the guest: it keeps open
//! transactions in the store's resource table, bounds each statement's size
//! and the request's statement count, and refuses everything when the
//! deployment was not granted the database. The rest does the work and the
//! sandboxing: [`namespace`] (one per tenant × service) over a [`backend`]
//! — [`sqlite`] or [`postgres`] — with their [`limits`], [`errors`] as the
//! guest sees them, and [`migrate`] for the service's migrations.

pub mod backend;
pub(crate) mod errors;
pub mod limits;
pub mod migrate;
pub mod namespace;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use backend::ResultLimits;
use backend::{Held, MAX_PARAMETERS, MAX_SQL_BYTES};
pub use limits::NamespaceLimits;
pub use namespace::{Namespace, NamespaceTx, Namespaces};

use crate::bindings::berth::service::database::{
    Error, Host, HostTransaction, Rows, Value, add_to_linker as link,
};
use crate::bindings::berth::service::types::Dialect;

/// The host side of a guest's `transaction` resource.
pub struct Transaction(NamespaceTx);

/// Per-request database state: the namespace (when granted) and what is
/// left of the request's budget.
pub struct DatabaseCtx {
    namespace: Option<Arc<Namespace>>,
    /// What the request holds of the namespace between its statements.
    held: Held,
    results: ResultLimits,
    statements_left: u32,
    max_statements: u32,
}

impl DatabaseCtx {
    pub fn new(
        namespace: Option<Arc<Namespace>>,
        results: ResultLimits,
        max_statements: u32,
    ) -> DatabaseCtx {
        DatabaseCtx {
            namespace,
            held: Held::Nothing,
            results,
            statements_left: max_statements,
            max_statements,
        }
    }

    /// Gives the next request (of an instance reused across requests) the
    /// whole statement budget again.
    pub fn next_request(&mut self) {
        self.statements_left = self.max_statements;
    }

    /// The request is over: what it held of the namespace goes back (an
    /// instance kept warm holds no connection between requests).
    pub fn end_request(&mut self) {
        self.held.release();
    }

    /// The namespace, charging one statement to the budget, once the
    /// statement is within the size bounds.
    fn charge_statement(&mut self, sql: &str, params: &[Value]) -> Result<Arc<Namespace>, Error> {
        if sql.len() > MAX_SQL_BYTES {
            return Err(Error::LimitExceeded(format!(
                "a statement may be at most {MAX_SQL_BYTES} bytes of SQL"
            )));
        }
        if params.len() > MAX_PARAMETERS {
            return Err(Error::LimitExceeded(format!(
                "a statement may bind at most {MAX_PARAMETERS} parameters"
            )));
        }
        self.charge()
    }

    /// The namespace, charging one statement to the budget.
    fn charge(&mut self) -> Result<Arc<Namespace>, Error> {
        let namespace = self.namespace.as_ref().ok_or_else(|| {
            Error::NotPermitted(
                "this service did not declare the database capability in its manifest".into(),
            )
        })?;
        if self.statements_left == 0 {
            return Err(Error::LimitExceeded(format!(
                "a request may run at most {} statements",
                self.max_statements
            )));
        }
        self.statements_left -= 1;
        Ok(namespace.clone())
    }
}

/// What the database `Host` impls work on: the context plus the table that
/// holds open transactions.
pub struct DatabaseView<'a> {
    pub ctx: &'a mut DatabaseCtx,
    pub table: &'a mut ResourceTable,
}

impl Host for DatabaseView<'_> {
    async fn current_dialect(&mut self) -> wasmtime::Result<Dialect> {
        Ok(self
            .ctx
            .namespace
            .as_ref()
            .map_or(Dialect::Sqlite, |ns| ns.dialect()))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Rows, Error>> {
        let limits = self.ctx.results;
        Ok(match self.ctx.charge_statement(&sql, &params) {
            Ok(ns) => ns.query(&mut self.ctx.held, &sql, params, limits).await,
            Err(e) => Err(e),
        })
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(match self.ctx.charge_statement(&sql, &params) {
            Ok(ns) => ns.execute(&mut self.ctx.held, &sql, params).await,
            Err(e) => Err(e),
        })
    }

    async fn begin(&mut self) -> wasmtime::Result<Result<Resource<Transaction>, Error>> {
        let tx = match self.ctx.charge() {
            Ok(ns) => ns.begin(&mut self.ctx.held).await,
            Err(e) => Err(e),
        };
        Ok(match tx {
            Ok(tx) => Ok(self.table.push(Transaction(tx))?),
            Err(e) => Err(e),
        })
    }
}

impl HostTransaction for DatabaseView<'_> {
    async fn query(
        &mut self,
        this: Resource<Transaction>,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Rows, Error>> {
        let limits = self.ctx.results;
        if let Err(e) = self.ctx.charge_statement(&sql, &params) {
            return Ok(Err(e));
        }
        let tx = self.table.get_mut(&this)?;
        Ok(tx.0.query(&sql, params, limits).await)
    }

    async fn execute(
        &mut self,
        this: Resource<Transaction>,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        if let Err(e) = self.ctx.charge_statement(&sql, &params) {
            return Ok(Err(e));
        }
        let tx = self.table.get_mut(&this)?;
        Ok(tx.0.execute(&sql, params).await)
    }

    async fn commit(&mut self, this: Resource<Transaction>) -> wasmtime::Result<Result<(), Error>> {
        let tx = self.table.delete(this)?;
        Ok(tx.0.commit().await)
    }

    async fn rollback(
        &mut self,
        this: Resource<Transaction>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let tx = self.table.delete(this)?;
        Ok(tx.0.rollback().await)
    }

    async fn drop(&mut self, this: Resource<Transaction>) -> wasmtime::Result<()> {
        // Dropping an uncommitted sqlx transaction rolls it back.
        self.table.delete(this)?;
        Ok(())
    }
}

struct Database;

impl HasData for Database {
    type Data<'a> = DatabaseView<'a>;
}

/// Links the interface into any store whose data gives a [`DatabaseView`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> DatabaseView<'_>,
) -> anyhow::Result<()> {
    link::<T, Database>(linker, view)?;
    Ok(())
}

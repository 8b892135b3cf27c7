//! What is live at one moment: per tenant, its services, their canaries
//! and the route tables built from them. Built whole by every change and
//! never mutated afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Deployment, RouteSpec};
use crate::rollout::{Plan, Side, Watch};
use crate::routing::{RouteError, RouteTable, RouteTableBuilder};
use crate::telemetry::metrics::RouteMetrics;

/// What a matched route leads to.
#[derive(Debug, Clone)]
pub struct Target {
    pub deployment: Arc<Deployment>,
    pub route: Arc<RouteSpec>,
    pub metrics: Arc<RouteMetrics>,
    /// While the service has a canary: the windows its answers are judged
    /// in, and which side this version is.
    pub watch: Option<(Arc<Watch>, Side)>,
}

impl Target {
    fn new(
        deployment: &Arc<Deployment>,
        route: &Arc<RouteSpec>,
        watch: Option<(Arc<Watch>, Side)>,
    ) -> Target {
        Target {
            deployment: deployment.clone(),
            route: route.clone(),
            metrics: Arc::new(RouteMetrics::new(
                &deployment.tenant,
                &deployment.name,
                &route.path,
                &deployment.version,
            )),
            watch,
        }
    }
}

/// A version running beside a service's live one, on a share of its
/// requests.
#[derive(Debug)]
pub struct Canary {
    pub deployment: Arc<Deployment>,
    pub plan: Plan,
    /// When it started, as recorded (the same on every replica).
    pub started_at: SystemTime,
    /// Its deployment record.
    pub record_id: i64,
    pub watch: Arc<Watch>,
    /// Its own routes.
    pub routes: RouteTable<Target>,
}

impl Canary {
    pub fn new(
        deployment: Arc<Deployment>,
        plan: Plan,
        started_at: SystemTime,
        record_id: i64,
    ) -> Result<Canary, RouteError> {
        let watch = Arc::new(Watch::new(&plan));
        let mut builder = RouteTableBuilder::default();
        for route in &deployment.routes {
            let target = Target::new(&deployment, route, Some((watch.clone(), Side::Canary)));
            builder.add(route.method.clone(), route.path.clone(), target)?;
        }
        Ok(Canary {
            routes: builder.build()?,
            deployment,
            plan,
            started_at,
            record_id,
            watch,
        })
    }
}

/// One tenant's live services, their canaries, and their routes.
#[derive(Debug, Default)]
pub struct TenantSnapshot {
    pub services: BTreeMap<String, Arc<Deployment>>,
    pub canaries: BTreeMap<String, Arc<Canary>>,
    pub routes: RouteTable<Target>,
}

pub type Services = BTreeMap<String, Arc<Deployment>>;
pub type Canaries = BTreeMap<String, Arc<Canary>>;

impl TenantSnapshot {
    /// The tenant with `services` and `canaries`, and a route table built
    /// from the services. Every canary's routes are checked against the
    /// other services' too, so that promoting it cannot conflict.
    pub(super) fn build(
        services: Services,
        canaries: Canaries,
    ) -> Result<TenantSnapshot, RouteError> {
        let mut builder = RouteTableBuilder::default();
        for deployment in services.values() {
            let watch = canaries
                .get(&deployment.name)
                .map(|c| (c.watch.clone(), Side::Stable));
            for route in &deployment.routes {
                let target = Target::new(deployment, route, watch.clone());
                builder.add(route.method.clone(), route.path.clone(), target)?;
            }
        }
        for canary in canaries.values() {
            let mut promoted = RouteTableBuilder::default();
            let others = services
                .values()
                .filter(|d| d.name != canary.deployment.name);
            for deployment in others.chain([&canary.deployment]) {
                for route in &deployment.routes {
                    promoted.add(route.method.clone(), route.path.clone(), ())?;
                }
            }
            promoted.build()?;
        }
        Ok(TenantSnapshot {
            routes: builder.build()?,
            services,
            canaries,
        })
    }
}

/// Everything live at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tenants: BTreeMap<String, Arc<TenantSnapshot>>,
}

impl Snapshot {
    pub fn tenant(&self, tenant: &str) -> Option<&Arc<TenantSnapshot>> {
        self.tenants.get(tenant)
    }

    /// Every live deployment, by tenant then name.
    pub fn deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.tenants.values().flat_map(|t| t.services.values())
    }

    /// Every running canary, by tenant then service.
    pub fn canaries(&self) -> impl Iterator<Item = &Arc<Canary>> {
        self.tenants.values().flat_map(|t| t.canaries.values())
    }

    pub fn deployment(&self, tenant: &str, name: &str) -> Option<&Arc<Deployment>> {
        self.tenants.get(tenant)?.services.get(name)
    }

    pub fn canary(&self, tenant: &str, name: &str) -> Option<&Arc<Canary>> {
        self.tenants.get(tenant)?.canaries.get(name)
    }

    /// This snapshot with one tenant's services and canaries replaced.
    pub(super) fn with_tenant(
        &self,
        tenant: &str,
        services: Services,
        canaries: Canaries,
    ) -> Result<Snapshot, RouteError> {
        let mut tenants = self.tenants.clone();
        tenants.insert(
            tenant.to_string(),
            Arc::new(TenantSnapshot::build(services, canaries)?),
        );
        Ok(Snapshot { tenants })
    }
}

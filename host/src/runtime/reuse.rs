//! Opt-in instance reuse. A deployment configured with `reuse_instances = N`
//! keeps up to N instances warm between requests instead of instantiating
//! one per request: a warm instance skips instantiation and the guest's own
//! start-up (an interpreter's, say), at the price of isolation between
//! requests — what a request leaves in the guest's globals, the next request
//! of the same tenant × service × version sees.
//!
//! What reuse never gives up:
//! - A pool belongs to one deployment: one tenant, one version. A hot swap
//!   makes a new deployment with an empty pool; the old pool dies with the
//!   old deployment, and an instance that finishes its request there is
//!   dropped with it.
//! - Only an instance whose call returned normally goes back: a trap, a
//!   deadline, a memory-limit hit (a trap too) or any other failure drops
//!   it. So does one that still holds a host resource (an open
//!   transaction, a `wasi:http` stream; see
//!   [`ServiceState::holds_nothing`]).
//! - An instance is dropped after `reuse_max_requests` requests, once older
//!   than `reuse_max_age_ms`, or once idle for [`IDLE_TIMEOUT`]; a sweeper
//!   drops idle ones on time.
//! - Idle instances never cost a request its instance: they have pool slots
//!   of their own (`runtime.max_warm_instances`, process-wide, each tenant
//!   at most its share of them), and when the pool is full anyway (an
//!   instance may hold more than one slot's share of core instances, tables
//!   and memories), the request drops every idle instance and tries again
//!   (see [`Reuser::evict_idle`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::ServiceState;
use crate::bindings::Service;
use crate::config::Reuse;

/// How often idle instances are checked.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long an instance may sit idle before it is dropped: a service that
/// stops getting requests soon holds no warm instance.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// An instance with the store it lives in, between two requests.
pub struct Warm {
    pub(super) store: Store<ServiceState>,
    pub(super) service: Service,
    pub(super) born: Instant,
    /// Requests it has served.
    pub(super) served: u32,
}

/// An idle instance: since when, and the slots it holds.
struct Idle {
    warm: Warm,
    since: Instant,
    _slot: IdleSlot,
    _tenant_slot: IdleSlot,
}

/// The warm instances of one deployment.
pub struct WarmPool {
    reuse: Reuse,
    idle: Mutex<Vec<Idle>>,
    slots: Arc<IdleSlots>,
    tenant_slots: Arc<IdleSlots>,
    counts: Counts,
    /// Requests served by a warm instance.
    warm_requests: AtomicU64,
}

impl WarmPool {
    /// A warm instance young enough to serve, if one is idle.
    pub fn take(&self) -> Option<Warm> {
        let mut expired = Vec::new();
        let found = {
            let mut idle = lock(&self.idle);
            loop {
                match idle.pop() {
                    Some(entry) if self.fresh(&entry, Instant::now()) => break Some(entry.warm),
                    Some(entry) => expired.push(entry),
                    None => break None,
                }
            }
        };
        // Dropping a store gives its memory back: not under the lock.
        drop(expired);
        match &found {
            Some(_) => {
                self.counts.warm.increment(1);
                self.warm_requests.fetch_add(1, Ordering::Relaxed);
            }
            None => self.counts.fresh.increment(1),
        }
        found
    }

    /// Keeps `warm` for a later request, unless it has served its share,
    /// aged out, holds a host resource, or no idle slot is free.
    pub fn put(&self, mut warm: Warm) {
        if warm.served >= self.reuse.max_requests
            || warm.born.elapsed() >= self.reuse.max_age
            || !warm.store.data_mut().holds_nothing()
        {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() >= self.reuse.instances as usize {
            return;
        }
        let Some(slot) = self.slots.take() else {
            return;
        };
        let Some(tenant_slot) = self.tenant_slots.take() else {
            return;
        };
        idle.push(Idle {
            warm,
            since: Instant::now(),
            _slot: slot,
            _tenant_slot: tenant_slot,
        });
    }

    /// Instances idle now.
    pub fn idle(&self) -> usize {
        lock(&self.idle).len()
    }

    /// Most instances kept idle.
    pub fn max_idle(&self) -> u32 {
        self.reuse.instances
    }

    /// Requests a warm instance has served so far.
    pub fn warm_requests(&self) -> u64 {
        self.warm_requests.load(Ordering::Relaxed)
    }

    fn fresh(&self, entry: &Idle, now: Instant) -> bool {
        now.duration_since(entry.warm.born) < self.reuse.max_age
            && now.duration_since(entry.since) < IDLE_TIMEOUT
    }

    /// Drops idle instances past their age or idle time (all of them with
    /// `all`), outside the lock; how many.
    fn sweep(&self, all: bool) -> usize {
        let now = Instant::now();
        let expired: Vec<Idle> = {
            let mut idle = lock(&self.idle);
            let (keep, expired) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|entry| !all && self.fresh(entry, now));
            *idle = keep;
            expired
        };
        expired.len()
    }
}

/// The process-wide bound on idle instances (the pool slots set aside for
/// them) and each tenant's share of it, and the pools that hold them.
pub struct Reuser {
    slots: Arc<IdleSlots>,
    /// Idle instances one tenant may hold.
    tenant_max: usize,
    tenants: Mutex<HashMap<String, Weak<IdleSlots>>>,
    pools: Mutex<Vec<Weak<WarmPool>>>,
    counts: Counts,
}

/// `berth_reuse_instances_total{instance="warm"|"fresh"}`: the instances
/// requests of deployments that reuse instances ran in.
#[derive(Clone)]
struct Counts {
    warm: metrics::Counter,
    fresh: metrics::Counter,
}

impl Reuser {
    /// Starts the sweeper; `max_idle` instances may be idle at once, at most
    /// `tenant_max_idle` of them one tenant's.
    pub fn new(max_idle: usize, tenant_max_idle: usize) -> anyhow::Result<Arc<Reuser>> {
        let reuser = Arc::new(Reuser {
            slots: IdleSlots::new(max_idle),
            tenant_max: tenant_max_idle.min(max_idle),
            tenants: Mutex::new(HashMap::new()),
            pools: Mutex::new(Vec::new()),
            counts: Counts {
                warm: metrics::counter!("berth_reuse_instances_total", "instance" => "warm"),
                fresh: metrics::counter!("berth_reuse_instances_total", "instance" => "fresh"),
            },
        });
        let weak = Arc::downgrade(&reuser);
        std::thread::Builder::new()
            .name("berth-warm-sweeper".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(SWEEP_EVERY);
                    let Some(reuser) = weak.upgrade() else { return };
                    // A panic in one sweep must not end the sweeping.
                    let swept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        reuser.sweep(false);
                    }));
                    if swept.is_err() {
                        tracing::error!("sweeping warm instances failed");
                    }
                }
            })?;
        Ok(reuser)
    }

    /// A pool for a deployment of `tenant` that reuses instances; `None` for
    /// one that does not (a fresh instance for every request).
    pub fn pool(&self, tenant: &str, reuse: Reuse) -> Option<Arc<WarmPool>> {
        if reuse.instances == 0 || self.tenant_max == 0 {
            return None;
        }
        let tenant_slots = {
            let mut tenants = lock(&self.tenants);
            tenants.retain(|_, slots| slots.strong_count() > 0);
            match tenants.get(tenant).and_then(Weak::upgrade) {
                Some(slots) => slots,
                None => {
                    let slots = IdleSlots::new(self.tenant_max);
                    tenants.insert(tenant.to_string(), Arc::downgrade(&slots));
                    slots
                }
            }
        };
        let pool = Arc::new(WarmPool {
            reuse,
            idle: Mutex::new(Vec::new()),
            slots: self.slots.clone(),
            tenant_slots,
            counts: self.counts.clone(),
            warm_requests: AtomicU64::new(0),
        });
        let mut pools = lock(&self.pools);
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        Some(pool)
    }

    /// Instances idle now, process-wide.
    pub fn idle(&self) -> usize {
        self.slots.idle.load(Ordering::Relaxed)
    }

    /// Drops every idle instance, so that their pool slots serve requests;
    /// how many there were. Called when an instantiation finds the pool
    /// full.
    pub fn evict_idle(&self) -> usize {
        if self.idle() == 0 {
            return 0;
        }
        let evicted = self.sweep(true);
        if evicted > 0 {
            tracing::warn!(
                evicted,
                "the instance pool is full: dropped every warm instance"
            );
        }
        evicted
    }

    fn sweep(&self, all: bool) -> usize {
        let pools: Vec<_> = {
            let mut pools = lock(&self.pools);
            pools.retain(|p| p.strong_count() > 0);
            pools.iter().filter_map(Weak::upgrade).collect()
        };
        let swept = pools.iter().map(|pool| pool.sweep(all)).sum();
        metrics::gauge!("berth_warm_instances").set(self.idle() as f64);
        swept
    }
}

/// Counts idle instances against a bound.
struct IdleSlots {
    idle: AtomicUsize,
    max: usize,
}

impl IdleSlots {
    fn new(max: usize) -> Arc<IdleSlots> {
        Arc::new(IdleSlots {
            idle: AtomicUsize::new(0),
            max,
        })
    }

    fn take(self: &Arc<Self>) -> Option<IdleSlot> {
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        Some(IdleSlot(self.clone()))
    }
}

/// One idle instance's place, given back when it is taken or dropped.
struct IdleSlot(Arc<IdleSlots>);

impl Drop for IdleSlot {
    fn drop(&mut self) {
        self.0.idle.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A lock that a panic elsewhere does not poison for good: the idle lists
/// stay consistent whatever panicked (each change is one push or swap).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

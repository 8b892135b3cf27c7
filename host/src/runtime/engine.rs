//! The engine (pooling allocator, epoch interruption), its epoch ticker,
//! and compilation off the request path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::CompileCache;
use super::reuse::{Reuser, WarmPool};
use crate::config::Reuse;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::ServicePre;
use crate::runtime::ServiceState;

/// How often the epoch advances: the granularity of request deadlines and of
/// a busy service yielding its thread to other requests.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Bytes of a pooled linear memory kept resident between requests.
const KEEP_RESIDENT: usize = 2 << 20;

/// The export of a standard `wasi:http/proxy` component.
const PROXY_EXPORT: &str = "wasi:http/incoming-handler@0.2";

/// A linked component, by what it exports.
#[derive(Clone)]
pub enum Entry {
    /// A berth service: `describe()` and `handle(request)`.
    Service(ServicePre<ServiceState>),
    /// A standard `wasi:http/proxy` component: `handle(request, out)`.
    Proxy(ProxyPre<ServiceState>),
}

impl Entry {
    /// What kind of component it is, as the admin API shows it.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Service(_) => "berth-service",
            Entry::Proxy(_) => "wasi-http-proxy",
        }
    }
}

/// Engine-wide choices, from the settings.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub pooling: bool,
    /// Instances requests may hold at once (the pool has room for these
    /// and for `max_warm` more).
    pub max_instances: u32,
    /// Most instances kept warm between requests, process-wide, by
    /// deployments that reuse instances.
    pub max_warm: u32,
    /// Most of them one tenant's.
    pub tenant_max_warm: u32,
    pub memory_bytes: usize,
    /// Where compiled code is cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Stop guests at their deadline (epoch interruption). Turning it off
    /// only makes sense to measure what it costs: a spinning guest then
    /// runs until it returns.
    pub deadlines: bool,
}

/// The engine and the linkers of the capabilities a service may be granted.
pub struct Runtime {
    engine: Engine,
    /// Every capability, outbound HTTP included.
    linker: Linker<ServiceState>,
    /// Every capability but outbound HTTP.
    restricted: Linker<ServiceState>,
    pooling: bool,
    cache: Option<CompileCache>,
    loaded: Mutex<HashMap<String, Weak<Component>>>,
    /// A gate per digest being compiled (see `compile`).
    compiling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    deadlines: bool,
    ticker: Arc<AtomicBool>,
    max_instances: u32,
    reuser: Arc<Reuser>,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Runtime> {
        let (engine, pooling) = if options.pooling {
            match Engine::new(&config(&options, true)) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(error = %e, "the pooling allocator is unavailable here; falling back to on-demand allocation");
                    (Engine::new(&config(&options, false))?, false)
                }
            }
        } else {
            (Engine::new(&config(&options, false))?, false)
        };
        let linker = super::state::linker(&engine, true)?;
        let restricted = super::state::linker(&engine, false)?;
        let cache = options
            .cache_dir
            .as_deref()
            .and_then(|dir| match CompileCache::open(dir, &engine) {
                Ok(cache) => Some(cache),
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "the compile cache is off: every start compiles every service");
                    None
                }
            });
        let ticker = Arc::new(AtomicBool::new(true));
        if options.deadlines {
            spawn_ticker(engine.clone(), ticker.clone())?;
        } else {
            tracing::warn!(
                "epoch deadlines are off: a service that never returns is never stopped"
            );
        }
        Ok(Runtime {
            engine,
            linker,
            restricted,
            pooling,
            cache,
            loaded: Mutex::new(HashMap::new()),
            compiling: Mutex::new(HashMap::new()),
            deadlines: options.deadlines,
            ticker,
            max_instances: options.max_instances,
            reuser: Reuser::new(options.max_warm as usize, options.tenant_max_warm as usize)
                .context("cannot start the warm instance sweeper")?,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether guests are stopped at their deadline.
    pub fn deadlines(&self) -> bool {
        self.deadlines
    }

    /// Instances requests may hold at once: the pool, less a few kept for
    /// deploys (`describe()` needs one).
    pub fn admissible_instances(&self) -> usize {
        let all = self.max_instances as usize;
        all.saturating_sub((all / 32).clamp(1, 8)).max(1)
    }

    /// A pool of warm instances for a deployment of `tenant` that reuses
    /// them (`None` for a fresh instance per request). Only a berth
    /// service's instance serves more than one request: a `wasi:http`
    /// component always gets a fresh one.
    pub fn warm_pool(&self, entry: &Entry, tenant: &str, reuse: Reuse) -> Option<Arc<WarmPool>> {
        match entry {
            Entry::Service(_) => self.reuser.pool(tenant, reuse),
            Entry::Proxy(_) => None,
        }
    }

    /// Drops every idle warm instance; how many (see `Reuser::evict_idle`).
    pub fn evict_idle(&self) -> usize {
        self.reuser.evict_idle()
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Compiles on the blocking pool, so that requests keep being served;
    /// code already compiled for this digest comes from the cache.
    pub async fn compile(&self, bytes: Arc<[u8]>, digest: &str) -> anyhow::Result<Arc<Component>> {
        // Every deployment of the same code shares one copy of it in memory
        // (a thousand tenants running `items` hold one compiled `items`).
        if let Some(component) = self.loaded(digest) {
            return Ok(component);
        }
        // One compile per digest at a time: deploys of the same code that
        // arrive together (tenants, replicas' notices, a restart) wait for
        // the first instead of compiling it again side by side.
        let gate = {
            let mut compiling = self.compiling.lock().expect("compile gates poisoned");
            compiling.retain(|_, gate| Arc::strong_count(gate) > 1);
            compiling.entry(digest.to_string()).or_default().clone()
        };
        let _turn = gate.lock().await;
        if let Some(component) = self.loaded(digest) {
            return Ok(component);
        }
        check_header(&bytes)?;
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let key = digest.to_string();
        let component = tokio::task::spawn_blocking(move || {
            if let Some(component) = cache.as_ref().and_then(|c| c.load(&engine, &key)) {
                return Ok(component);
            }
            let component = Component::from_binary(&engine, &bytes)
                .map_err(|e| anyhow::Error::from(e).context("the component does not compile"));
            // Compiling a large component (an interpreter, say) leaves
            // hundreds of MiB free in the allocator's arenas: give them back.
            release_free_memory();
            let component = component?;
            if let Some(cache) = &cache {
                match cache.store(&key, &component) {
                    // The cached copy is mapped from its file: only what runs
                    // is resident. The compiled copy in memory goes.
                    Ok(()) => {
                        if let Some(mapped) = cache.load(&engine, &key) {
                            return Ok(mapped);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot write the compile cache"),
                }
            }
            anyhow::Ok(component)
        })
        .await
        .context("the compiler task failed")??;
        let component = Arc::new(component);
        let mut loaded = self.loaded.lock().expect("component map poisoned");
        loaded.retain(|_, weak| weak.strong_count() > 0);
        loaded.insert(digest.to_string(), Arc::downgrade(&component));
        Ok(component)
    }

    /// The compiled component of `digest`, if a live deployment holds it.
    fn loaded(&self, digest: &str) -> Option<Arc<Component>> {
        self.loaded
            .lock()
            .expect("component map poisoned")
            .get(digest)?
            .upgrade()
    }

    /// Links a compiled component against the granted capabilities and
    /// checks what it exports: the `berth:service` handler, or else
    /// `wasi:http/incoming-handler` (a standard `wasi:http/proxy`
    /// component). Without `outbound_http`, `wasi:http` is not linked at
    /// all; a component that imports it anyway (a library it links may, and
    /// every proxy component does) gets it, bounded like every host
    /// resource, with the deployment's allow-list (empty unless granted:
    /// wasmtime cannot stub it out, its types are shared with `wasi:io`).
    pub fn link(&self, component: &Component, outbound_http: bool) -> anyhow::Result<Entry> {
        let missing = |e: wasmtime::Error| {
            anyhow::Error::from(e).context("the component needs an import berth does not provide")
        };
        let pre = if outbound_http || imports_http(&self.engine, component) {
            self.linker.instantiate_pre(component).map_err(missing)?
        } else {
            self.restricted
                .instantiate_pre(component)
                .map_err(missing)?
        };
        let exports_proxy = component
            .component_type()
            .exports(&self.engine)
            .any(|(name, _)| name.starts_with(PROXY_EXPORT));
        if exports_proxy && ServicePre::new(pre.clone()).is_err() {
            return Ok(Entry::Proxy(ProxyPre::new(pre).map_err(|e| {
                anyhow::Error::from(e).context("not a wasi:http/proxy component of version 0.2")
            })?));
        }
        Ok(Entry::Service(ServicePre::new(pre).map_err(|e| {
            anyhow::Error::from(e).context(format!(
                "neither a berth:service component nor a wasi:http/proxy one (it exports {})",
                describe_exports(&self.engine, component)
            ))
        })?))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

fn config(options: &RuntimeOptions, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(options.deadlines);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        let instances = options.max_instances.saturating_add(options.max_warm);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_memory_size(options.memory_bytes)
            .total_stacks(instances)
            // Reused slots are reset by zeroing the pages a request touched
            // (found with PAGEMAP_SCAN where the kernel has it) instead of
            // unmapping them: no page faults and no TLB shootdowns on the
            // next request. Up to these sizes stay resident per warm slot.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT / 16)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// One thread per engine advances the epoch; stores check it cheaply.
fn spawn_ticker(engine: Engine, running: Arc<AtomicBool>) -> anyhow::Result<()> {
    thread::Builder::new()
        .name("berth-epoch".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(())
}

/// Refuses what is not a component with a message that says what it is.
fn check_header(bytes: &[u8]) -> anyhow::Result<()> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        anyhow::bail!(
            "not a WebAssembly file ({} bytes without the \\0asm header)",
            bytes.len()
        );
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => anyhow::bail!(
            "a core WebAssembly module, not a component: build the service for wasm32-wasip2"
        ),
        [_, _, 1, 0] => Ok(()),
        _ => anyhow::bail!("an unknown WebAssembly binary version"),
    }
}

fn imports_http(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name.starts_with("wasi:http/"))
}

fn describe_exports(engine: &Engine, component: &Component) -> String {
    let names: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// Returns the allocator's free memory to the system (glibc keeps what a
/// compile freed in its arenas otherwise).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own
    // arenas; it takes no pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploys_of_one_digest_that_arrive_together_compile_it_once() {
        let runtime = Arc::new(
            Runtime::new(RuntimeOptions {
                pooling: false,
                max_instances: 4,
                max_warm: 0,
                tenant_max_warm: 0,
                memory_bytes: 1 << 20,
                cache_dir: None,
                deadlines: false,
            })
            .unwrap(),
        );
        // The smallest component: its preamble.
        let bytes: Arc<[u8]> = Arc::from(&b"\0asm\x0d\0\x01\0"[..]);
        let compiles: Vec<_> = (0..8)
            .map(|_| {
                let (runtime, bytes) = (runtime.clone(), bytes.clone());
                tokio::spawn(async move { runtime.compile(bytes, "digest").await.unwrap() })
            })
            .collect();
        let mut components = Vec::new();
        for compile in compiles {
            components.push(compile.await.unwrap());
        }
        assert!(
            components.iter().all(|c| Arc::ptr_eq(c, &components[0])),
            "one compiled copy, shared"
        );
    }
}

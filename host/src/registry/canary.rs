//! Canaries: a version started beside a service's live one on a share of
//! its requests, then promoted (it becomes the live version) or aborted —
//! by the operator, or by the judge (`judge.rs`) that compares both
//! versions' windows on this replica. Each change is recorded first; a
//! replica that finds a canary already ended by another follows the records.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::deploy::{DeployReport, DeployRequest};
use super::{Canary, DeployError, Deployment, Origin, Registry, Snapshot};
use crate::db::{CanaryRecord, Ending, NewDeployment};
use crate::rollout::{Plan, PlanRequest};

impl Registry {
    /// Starts `request` as the canary of its (live) service with `plan`;
    /// returns once it takes its share.
    pub async fn start_canary(
        &self,
        request: DeployRequest,
        plan: &PlanRequest,
    ) -> Result<DeployReport, DeployError> {
        // Bad input changes nothing, not even the history.
        let plan = plan.validate().map_err(DeployError::InvalidCanary)?;
        let name = request.name.clone().unwrap_or_default();
        if !self.has_tenant(&request.tenant) {
            return Err(DeployError::NotFound(format!(
                "tenant `{}` does not exist",
                request.tenant
            )));
        }
        let live = self.canary_allowed(&self.snapshot(), &request.tenant, &name)?;
        if live.digest == request.digest {
            return Err(DeployError::Conflict(format!(
                "this component is already the live version of `{name}`"
            )));
        }
        let result = async {
            let deployment = self.prepare_and_keep(&request).await?;
            self.activate_canary(
                deployment,
                plan,
                Origin::Local(request.source.clone()),
                None,
            )
            .await
        }
        .await;
        self.log_outcome(&request, &result, "canary started").await;
        result
    }

    /// The live version a canary of `name` would run beside, or why there
    /// can be none.
    fn canary_allowed(
        &self,
        snapshot: &Snapshot,
        tenant: &str,
        name: &str,
    ) -> Result<Arc<Deployment>, DeployError> {
        let live = snapshot.deployment(tenant, name).cloned().ok_or_else(|| {
            DeployError::NotFound(format!(
                "service `{name}` is not deployed: a canary runs beside a live version"
            ))
        })?;
        if let Some(running) = snapshot.canary(tenant, name) {
            return Err(canary_running(running));
        }
        Ok(live)
    }

    /// Applies the canary's migrations, records it (when the change is
    /// ours; `recorded` is its record when following), and swaps it in.
    async fn activate_canary(
        &self,
        deployment: Arc<Deployment>,
        plan: Plan,
        origin: Origin,
        recorded: Option<(i64, SystemTime)>,
    ) -> Result<DeployReport, DeployError> {
        let (tenant, name) = (deployment.tenant.clone(), deployment.name.clone());
        let service_lock = self.locks.service(&tenant, &name);
        let _service = service_lock.lock().await;
        match &origin {
            Origin::Local(_) => drop(self.canary_allowed(&self.snapshot(), &tenant, &name)?),
            Origin::Replica => {
                let record = self.host_db.canary_one(&tenant, &name).await?;
                if record.is_none_or(|r| r.deployment.digest != deployment.digest) {
                    return Err(DeployError::Conflict(format!(
                        "the canary of `{name}` changed meanwhile; not applying an older record"
                    )));
                }
            }
        }
        // Route conflicts are refused before any migration runs (and again
        // under the tenant's lock below).
        let trial = Canary::new(deployment.clone(), plan.clone(), SystemTime::now(), 0)?;
        drop(Self::with_canary(&self.current.load(), Arc::new(trial))?);
        // Both versions work with the schema from here on.
        let migrations_applied = match &deployment.grants.namespace {
            Some(ns) => ns.migrate(&deployment.manifest.migrations).await?,
            None => Vec::new(),
        };
        let tenant_lock = self.locks.tenant(&tenant);
        let _tenant = tenant_lock.lock().await;
        let trial = Canary::new(deployment.clone(), plan.clone(), SystemTime::now(), 0)?;
        drop(Self::with_canary(&self.current.load(), Arc::new(trial))?);
        let (id, started) = match (recorded, &origin) {
            (Some(recorded), _) => recorded,
            (None, Origin::Local(source)) => {
                let started = SystemTime::now();
                let plan_text = serde_json::to_string(&plan.request())
                    .map_err(|e| DeployError::Internal(e.into()))?;
                let id = self
                    .host_db
                    .record_canary(
                        &NewDeployment {
                            tenant: &tenant,
                            service: &name,
                            version: &deployment.version,
                            digest: &deployment.digest,
                            source: &source.record(),
                        },
                        &plan_text,
                        unix_ms(started),
                    )
                    .await?
                    .ok_or_else(|| {
                        DeployError::Conflict(format!(
                            "service `{name}` got a canary, or lost its live version, meanwhile"
                        ))
                    })?;
                (id, started)
            }
            (None, Origin::Replica) => {
                return Err(DeployError::Internal(anyhow::anyhow!(
                    "a followed canary without its record"
                )));
            }
        };
        let canary = Arc::new(Canary::new(deployment.clone(), plan, started, id)?);
        self.locks.modify(&self.current, |current| {
            Self::with_canary(current, canary).map(Some)
        })?;
        drop(_tenant);
        if matches!(origin, Origin::Local(_)) {
            self.host_db.notify_change(&tenant, &name).await;
        }
        Ok(DeployReport {
            tenant,
            name,
            version: deployment.version.clone(),
            digest: deployment.digest.clone(),
            migrations_applied,
        })
    }

    fn with_canary(current: &Snapshot, canary: Arc<Canary>) -> Result<Snapshot, DeployError> {
        let deployment = &canary.deployment;
        let tenant = current
            .tenant(&deployment.tenant)
            .cloned()
            .unwrap_or_default();
        if !tenant.services.contains_key(&deployment.name) {
            return Err(DeployError::NotFound(format!(
                "service `{}` is no longer deployed",
                deployment.name
            )));
        }
        let mut canaries = tenant.canaries.clone();
        canaries.insert(deployment.name.clone(), canary.clone());
        Ok(current.with_tenant(&deployment.tenant, tenant.services.clone(), canaries)?)
    }

    /// Makes the canary of `name` the live version.
    pub async fn promote(&self, tenant: &str, name: &str) -> Result<DeployReport, DeployError> {
        let end = End::ours(Ending::Promoted, "promoted by the operator", None);
        self.end_canary(tenant, name, end).await
    }

    /// Takes the canary of `name` out; the live version takes every request.
    pub async fn abort(&self, tenant: &str, name: &str) -> Result<DeployReport, DeployError> {
        let end = End::ours(Ending::Aborted, "aborted by the operator", None);
        self.end_canary(tenant, name, end).await
    }

    /// Ends the canary of `name` as `end` says: recorded first when it is
    /// ours, else only following the records.
    pub(super) async fn end_canary(
        &self,
        tenant: &str,
        name: &str,
        end: End<'_>,
    ) -> Result<DeployReport, DeployError> {
        let End {
            ending,
            note,
            ours,
            expected,
        } = end;
        let service_lock = self.locks.service(tenant, name);
        let _service = service_lock.lock().await;
        let canary = self
            .snapshot()
            .canary(tenant, name)
            .cloned()
            .ok_or_else(|| {
                DeployError::NotFound(format!("service `{name}` has no canary running"))
            })?;
        if expected.is_some_and(|id| id != canary.record_id) {
            // Decided about a canary that has since been replaced.
            return Err(DeployError::Conflict(format!(
                "the canary of `{name}` changed meanwhile; the decision was about another"
            )));
        }
        if ours {
            let ended = self
                .host_db
                .end_canary(tenant, name, canary.record_id, ending, note)
                .await?;
            if !ended {
                // The replica that ended it announces it; this one follows.
                return Err(DeployError::Conflict(format!(
                    "the canary of `{name}` was ended meanwhile (by another replica)"
                )));
            }
        }
        let tenant_lock = self.locks.tenant(tenant);
        let _tenant = tenant_lock.lock().await;
        self.locks.modify(&self.current, |current| {
            let Some(snapshot) = current.tenant(tenant) else {
                return Ok::<_, DeployError>(None);
            };
            let (mut services, mut canaries) =
                (snapshot.services.clone(), snapshot.canaries.clone());
            canaries.remove(name);
            if ending == Ending::Promoted {
                services.insert(name.to_string(), canary.deployment.clone());
            }
            Ok(Some(current.with_tenant(tenant, services, canaries)?))
        })?;
        drop(_tenant);
        let version = &canary.deployment.version;
        self.logs.host(
            tenant,
            name,
            crate::logs::Level::Info,
            format!(
                "canary {version} {}{}{note}",
                match ending {
                    Ending::Promoted => "promoted",
                    Ending::Aborted => "aborted",
                },
                if note.is_empty() { "" } else { ": " },
            ),
        );
        if ours {
            self.host_db.notify_change(tenant, name).await;
            tracing::info!(tenant, service = name, %version, ?ending, note, "canary ended");
        } else {
            tracing::info!(tenant, service = name, %version, ?ending, "canary ended, following the records");
        }
        Ok(DeployReport {
            tenant: tenant.to_string(),
            name: name.to_string(),
            version: version.clone(),
            digest: canary.deployment.digest.clone(),
            migrations_applied: Vec::new(),
        })
    }

    /// Puts a recorded canary in place here, without recording it again.
    pub(super) async fn put_recorded_canary(
        &self,
        record: &CanaryRecord,
    ) -> Result<DeployReport, DeployError> {
        let plan: PlanRequest = serde_json::from_str(&record.plan)
            .map_err(|e| DeployError::Internal(anyhow::anyhow!("a canary's recorded plan: {e}")))?;
        let plan = plan.validate().map_err(DeployError::InvalidCanary)?;
        let d = &record.deployment;
        let deployment = self.prepare_recorded(d).await?;
        let started =
            UNIX_EPOCH + Duration::from_millis(u64::try_from(record.started_ms).unwrap_or(0));
        self.activate_canary(deployment, plan, Origin::Replica, Some((d.id, started)))
            .await
    }

    /// Brings the canary of one service in line with its record.
    pub(super) async fn sync_canary(&self, tenant: &str, service: &str) -> Result<(), DeployError> {
        self.end_followed_canary(tenant, service).await?;
        self.start_followed_canary(tenant, service).await
    }

    /// Starts the recorded canary here when this replica does not run it.
    pub(super) async fn start_followed_canary(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<(), DeployError> {
        let record = self.host_db.canary_one(tenant, service).await?;
        let here = self.snapshot().canary(tenant, service).cloned();
        if let Some(record) = record
            && here.is_none_or(|h| h.record_id != record.deployment.id)
        {
            self.put_recorded_canary(&record).await?;
            tracing::info!(tenant, service, version = %record.deployment.version, "followed another replica's canary");
        }
        Ok(())
    }

    /// Ends the canary here when the records no longer have it: promoted if
    /// they have it live, else aborted.
    pub(super) async fn end_followed_canary(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<(), DeployError> {
        let Some(here) = self.snapshot().canary(tenant, service).cloned() else {
            return Ok(());
        };
        let record = self.host_db.canary_one(tenant, service).await?;
        if record.is_none_or(|r| r.deployment.id != here.record_id) {
            // Ended elsewhere: promoted if the records have it live.
            let live = self.host_db.live_one(tenant, service).await?;
            let ending = if live.is_some_and(|l| l.id == here.record_id) {
                Ending::Promoted
            } else {
                Ending::Aborted
            };
            let end = End {
                ending,
                note: "",
                ours: false,
                expected: Some(here.record_id),
            };
            self.end_canary(tenant, service, end).await?;
        }
        Ok(())
    }
}

/// How a canary is being ended, and by whom.
pub(super) struct End<'a> {
    pub ending: Ending,
    /// Who decided and why, for the history.
    pub note: &'a str,
    /// Decided here, and recorded first; else following the records.
    pub ours: bool,
    /// The canary the decision was about (its record): another one that
    /// took its place meanwhile is left alone.
    pub expected: Option<i64>,
}

impl<'a> End<'a> {
    pub fn ours(ending: Ending, note: &'a str, expected: Option<i64>) -> End<'a> {
        End {
            ending,
            note,
            ours: true,
            expected,
        }
    }
}

/// Why a service with a canary cannot take another version now.
pub(super) fn canary_running(canary: &Canary) -> DeployError {
    DeployError::Conflict(format!(
        "service `{}` has a canary running (version {}, {}%): promote or abort it first",
        canary.deployment.name, canary.deployment.version, canary.plan.percent
    ))
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

//! `berth:service/settings`: the deployment's configuration, read-only.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::berth::service::settings::{Host, add_to_linker as link};
use crate::runtime::ServiceState;

/// The settings of one deployment: operator values over declared defaults.
#[derive(Debug, Clone, Default)]
pub struct SettingsCtx {
    values: Arc<BTreeMap<String, String>>,
}

impl SettingsCtx {
    pub fn new(values: Arc<BTreeMap<String, String>>) -> SettingsCtx {
        SettingsCtx { values }
    }
}

impl Host for SettingsCtx {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.values.get(&key).cloned())
    }

    fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

struct Settings;

impl HasData for Settings {
    type Data<'a> = &'a mut SettingsCtx;
}

pub fn add_to_linker(linker: &mut Linker<ServiceState>) -> anyhow::Result<()> {
    link::<ServiceState, Settings>(linker, |state| &mut state.settings)?;
    Ok(())
}

//! `berth:service/settings`: the deployment's configuration, read-only.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::berth::service::settings::{Host, add_to_linker as link};

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

/// Links the interface into any store whose data holds a [`SettingsCtx`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    ctx: fn(&mut T) -> &mut SettingsCtx,
) -> anyhow::Result<()> {
    link::<T, HasSelf<SettingsCtx>>(linker, ctx)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_reads_its_own_settings_and_nothing_else() {
        let values = BTreeMap::from([
            ("greeting".to_string(), "Howdy".to_string()),
            ("times".to_string(), "3".to_string()),
        ]);
        let mut ctx = SettingsCtx::new(Arc::new(values));
        assert_eq!(
            ctx.get("greeting".into()).unwrap().as_deref(),
            Some("Howdy")
        );
        assert_eq!(ctx.get("GREETING".into()).unwrap(), None);
        assert_eq!(ctx.get("other".into()).unwrap(), None);
        assert_eq!(
            ctx.get_all().unwrap(),
            vec![
                ("greeting".to_string(), "Howdy".to_string()),
                ("times".to_string(), "3".to_string())
            ]
        );
        assert!(SettingsCtx::default().get_all().unwrap().is_empty());
    }
}

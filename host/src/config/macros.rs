//! `layer!`: a configuration layer, every field optional, and how a later
//! layer overrides an earlier one.

/// Declares a struct whose fields are all `Option`s, read from TOML with
/// unknown keys refused, with `overlay` (the later layer wins key by key)
/// and `KEYS` (its key names).
macro_rules! layer {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Deserialize, PartialEq, Eq)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: Option<$ty>,)*
        }

        impl $name {
            /// `self` with every value `top` sets taking its place.
            pub fn overlay(self, top: $name) -> $name {
                $name {
                    $($field: top.$field.or(self.$field),)*
                }
            }

            /// The names of its keys.
            #[allow(dead_code)]
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

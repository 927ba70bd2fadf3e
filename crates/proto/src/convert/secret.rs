//! Secrets and configs: named blobs with labels.

use crate::convert::{ConvertError, required};
use crate::pb;
use flotilla_model::{Config, ConfigId, ConfigSpec, Secret, SecretId, SecretSpec};

impl From<Secret> for pb::Secret {
    fn from(s: Secret) -> Self {
        Self {
            id: s.id.0,
            meta: Some(s.meta.into()),
            spec: Some(s.spec.into()),
        }
    }
}

impl TryFrom<pb::Secret> for Secret {
    type Error = ConvertError;

    fn try_from(p: pb::Secret) -> Result<Self, ConvertError> {
        Ok(Self {
            id: SecretId(p.id),
            meta: required(p.meta, "meta")?,
            spec: required(p.spec, "spec")?,
        })
    }
}

impl From<SecretSpec> for pb::SecretSpec {
    fn from(s: SecretSpec) -> Self {
        Self {
            name: s.name,
            labels: s.labels,
            data: s.data,
        }
    }
}

impl TryFrom<pb::SecretSpec> for SecretSpec {
    type Error = ConvertError;

    fn try_from(p: pb::SecretSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            name: p.name,
            labels: p.labels,
            data: p.data,
        })
    }
}

impl From<Config> for pb::Config {
    fn from(c: Config) -> Self {
        Self {
            id: c.id.0,
            meta: Some(c.meta.into()),
            spec: Some(c.spec.into()),
        }
    }
}

impl TryFrom<pb::Config> for Config {
    type Error = ConvertError;

    fn try_from(p: pb::Config) -> Result<Self, ConvertError> {
        Ok(Self {
            id: ConfigId(p.id),
            meta: required(p.meta, "meta")?,
            spec: required(p.spec, "spec")?,
        })
    }
}

impl From<ConfigSpec> for pb::ConfigSpec {
    fn from(c: ConfigSpec) -> Self {
        Self {
            name: c.name,
            labels: c.labels,
            data: c.data,
        }
    }
}

impl TryFrom<pb::ConfigSpec> for ConfigSpec {
    type Error = ConvertError;

    fn try_from(p: pb::ConfigSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            name: p.name,
            labels: p.labels,
            data: p.data,
        })
    }
}

//! Quality gates: the checks a partition must pass before it is promoted, and the JSON report
//! each gate writes under `reports/`, passed or not, so an operator can see why a partition was
//! (or was not) published.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::LakeError;
use crate::lake::Lake;

/// One check of a gate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    /// What is checked, e.g. `reject_ratio`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The measured value and the bound, in words.
    pub detail: String,
}

impl Check {
    /// A check named `name` that held when `passed`.
    pub fn new(name: &str, passed: bool, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            passed,
            detail,
        }
    }
}

/// What a gate decided about one partition.
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// `silver` or `gold`.
    pub layer: String,
    /// The partition, e.g. `date=2026-12-01` or `date=2026-12-01/hour=13`.
    pub partition: String,
    /// Whether every check passed (and the partition was promoted).
    pub passed: bool,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The counts the checks were made on.
    pub counts: BTreeMap<String, u64>,
    /// Rejected records by reason (silver).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rejects_by_reason: BTreeMap<String, u64>,
}

impl QualityReport {
    /// A report over `checks`; it passes when they all do.
    pub fn new(layer: &str, partition: String, checks: Vec<Check>) -> Self {
        Self {
            layer: layer.to_owned(),
            partition,
            passed: checks.iter().all(|c| c.passed),
            checks,
            counts: BTreeMap::new(),
            rejects_by_reason: BTreeMap::new(),
        }
    }

    /// Where the report is kept: `reports/<layer>/<partition>.json`.
    pub fn path(&self) -> String {
        format!("reports/{}/{}.json", self.layer, self.partition)
    }

    /// Writes the report into the lake.
    pub async fn write(&self, lake: &Lake) -> Result<(), LakeError> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        lake.put(&self.path(), Bytes::from(json)).await
    }

    /// `Ok` when the gate passed, else [`LakeError::GateRefused`] naming the failed checks.
    pub fn verdict(&self) -> Result<(), LakeError> {
        if self.passed {
            return Ok(());
        }
        let reasons = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} ({})", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ");
        Err(LakeError::GateRefused {
            what: format!("{} {}", self.layer, self.partition),
            reasons,
        })
    }
}

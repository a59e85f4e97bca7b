//! Feature flags (`CARTD_FLAGS_FILE`): a file in the OpenFeature flagd format, read again when
//! it changes, evaluated for each shopper with flagd's own engine (JsonLogic targeting, with
//! `fractional` percentage rollouts, `sem_ver`, `starts_with`, `ends_with`, `$evaluators`).
//!
//! The flags cartd reads ([`Feature`]): `graphql`, `discount-codes` and `checkout` (booleans)
//! and `merge-strategies` (a list of the strategies allowed). All are on when there is no file,
//! when the file does not define the flag, when its `state` is `DISABLED` (flagd's "use the
//! application's default"), or when a value has the wrong type. A feature that is off answers
//! `403 FEATURE_DISABLED`: the route exists, this shopper may not use it now.
//!
//! The evaluation context: `targetingKey` is the user id or guest id (`anonymous` without
//! either), with `userId` or `guestId`, and `kind` (`user`, `guest`, `anonymous`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use flagd_evaluation_engine::{FeatureFlag, FlagParser, Operator};
use open_feature::EvaluationContext;
use serde_json::{Value, json};

use cart_core::{CartKey, MergeStrategy};

use crate::auth::Caller;
use crate::problem::{ApiError, Code};

/// How often the file is checked for changes. Polling the modification time (rather than
/// inotify) also sees Kubernetes ConfigMap updates, which swap a symlink.
const POLL: Duration = Duration::from_secs(1);

/// A feature cartd gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The GraphQL endpoint.
    Graphql,
    /// Adding discount codes to carts.
    DiscountCodes,
    /// Checkout.
    Checkout,
}

impl Feature {
    /// The flag's key in the file.
    pub fn key(self) -> &'static str {
        match self {
            Self::Graphql => "graphql",
            Self::DiscountCodes => "discount-codes",
            Self::Checkout => "checkout",
        }
    }
}

/// The key of the merge strategies flag.
pub const MERGE_STRATEGIES: &str = "merge-strategies";

/// Whom a flag is evaluated for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A signed-in user.
    User(String),
    /// A guest.
    Guest(String),
    /// Nobody known.
    Anonymous,
}

impl Subject {
    /// The owner of `key`: flags follow the shopper whose cart it is.
    pub fn owner(key: &CartKey) -> Self {
        match key {
            CartKey::User(id) => Self::User(id.as_str().to_owned()),
            CartKey::Guest(id) => Self::Guest(id.as_str().to_owned()),
        }
    }

    /// The caller (for routes that name no cart).
    pub fn caller(caller: &Caller) -> Self {
        match caller {
            Caller::User { id, .. } => Self::User(id.as_str().to_owned()),
            Caller::Anonymous => Self::Anonymous,
        }
    }

    fn context(&self) -> EvaluationContext {
        match self {
            Self::User(id) => EvaluationContext::default()
                .with_targeting_key(id.clone())
                .with_custom_field("userId", id.clone())
                .with_custom_field("kind", "user"),
            Self::Guest(id) => EvaluationContext::default()
                .with_targeting_key(id.clone())
                .with_custom_field("guestId", id.clone())
                .with_custom_field("kind", "guest"),
            Self::Anonymous => EvaluationContext::default()
                .with_targeting_key("anonymous")
                .with_custom_field("kind", "anonymous"),
        }
    }
}

/// What [`Flags::in_force`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagsInForce {
    /// The file, if any.
    pub source: Option<String>,
    /// When it was last modified (RFC 3339).
    pub modified_at: Option<String>,
    /// Each gated flag's definition, `null` when the file does not define it.
    pub flags: Value,
}

/// A flags file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct FlagsError {
    path: String,
    reason: String,
}

/// The flags as last read.
#[derive(Debug, Default)]
struct Loaded {
    flags: HashMap<String, FeatureFlag>,
    modified: Option<SystemTime>,
}

/// The flags, and the file they come from.
pub struct Flags {
    file: Option<PathBuf>,
    loaded: RwLock<Arc<Loaded>>,
    engine: Operator,
}

impl Flags {
    /// No file: every feature on.
    pub fn defaults() -> Self {
        Self {
            file: None,
            loaded: RwLock::default(),
            engine: Operator::new(),
        }
    }

    /// The flags of `path`, which must be readable and valid now (a mistake stops the start
    /// rather than silently turning everything on).
    pub fn from_file(path: &Path) -> Result<Self, FlagsError> {
        let loaded = read(path)?;
        Ok(Self {
            file: Some(path.to_owned()),
            loaded: RwLock::new(Arc::new(loaded)),
            engine: Operator::new(),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The value of flag `key` for `subject`, `None` for "use the default".
    fn evaluate(&self, key: &str, subject: &Subject) -> Option<Value> {
        let loaded = self.current();
        let flag = loaded.flags.get(key)?;
        if flag.state != "ENABLED" {
            return None;
        }
        let variant = match &flag.targeting {
            None => flag.default_variant.clone(),
            Some(rule) => match self
                .engine
                .apply(key, &rule.to_string(), &subject.context())
            {
                Ok(Some(variant)) => variant,
                Ok(None) => flag.default_variant.clone(),
                Err(error) => {
                    tracing::warn!(flag = key, %error, "flag targeting failed; using the default variant");
                    flag.default_variant.clone()
                }
            },
        };
        flag.variants.get(&variant).cloned()
    }

    /// Whether `feature` is on for `subject`.
    pub fn enabled(&self, feature: Feature, subject: &Subject) -> bool {
        match self.evaluate(feature.key(), subject) {
            Some(Value::Bool(on)) => on,
            _ => true,
        }
    }

    /// `Ok` when `feature` is on for `subject`, else `403 FEATURE_DISABLED`.
    pub fn require(&self, feature: Feature, subject: &Subject) -> Result<(), ApiError> {
        if self.enabled(feature, subject) {
            return Ok(());
        }
        Err(ApiError::new(
            Code::FeatureDisabled,
            format!("{} is not available now", feature.key()),
        )
        .with_details(json!({"feature": feature.key()})))
    }

    /// `Ok` when `strategy` is among the merge strategies allowed for `subject`, else
    /// `403 FEATURE_DISABLED` listing the allowed ones.
    pub fn require_merge_strategy(
        &self,
        strategy: MergeStrategy,
        subject: &Subject,
    ) -> Result<(), ApiError> {
        let allowed: Vec<String> = match self.evaluate(MERGE_STRATEGIES, subject) {
            Some(Value::Array(values)) => values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => return Ok(()),
        };
        if allowed.iter().any(|s| s == strategy.as_str()) {
            return Ok(());
        }
        Err(ApiError::new(
            Code::FeatureDisabled,
            format!(
                "the {} merge strategy is not available now",
                strategy.as_str()
            ),
        )
        .with_details(json!({"feature": MERGE_STRATEGIES, "allowed_strategies": allowed})))
    }

    /// The flags as `GET /v1/admin/flags` shows them: where they come from and each gated
    /// flag's definition (`null`: not in the file, on by default).
    pub fn in_force(&self) -> FlagsInForce {
        let loaded = self.current();
        let keys = [
            Feature::Graphql.key(),
            Feature::DiscountCodes.key(),
            Feature::Checkout.key(),
            MERGE_STRATEGIES,
        ];
        let flags: serde_json::Map<String, Value> = keys
            .iter()
            .map(|key| {
                let definition = loaded
                    .flags
                    .get(*key)
                    .and_then(|flag| serde_json::to_value(flag).ok())
                    .unwrap_or(Value::Null);
                ((*key).to_owned(), definition)
            })
            .collect();
        let modified = loaded.modified.map(|at| {
            time::OffsetDateTime::from(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        });
        FlagsInForce {
            source: self.file.as_ref().map(|p| p.display().to_string()),
            modified_at: modified,
            flags: Value::Object(flags),
        }
    }

    /// Reads the file again whenever it changes, until `stop` turns true. A file that became
    /// invalid is logged and the flags in use stay.
    pub async fn watch(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if modified == self.current().modified {
                continue;
            }
            match read(&path) {
                Ok(loaded) => {
                    let count = loaded.flags.len();
                    *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
                    tracing::info!(flags = count, path = %path.display(), "feature flags read again");
                }
                Err(error) => {
                    tracing::warn!(%error, "the flags file changed but cannot be used; keeping the flags in use");
                    // Not read again until it changes once more.
                    let kept = Loaded {
                        flags: self.current().flags.clone(),
                        modified,
                    };
                    *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(kept);
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<Loaded, FlagsError> {
    let error = |reason: String| FlagsError {
        path: path.display().to_string(),
        reason,
    };
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let parsed = FlagParser::parse_string(&text).map_err(|e| error(e.to_string()))?;
    Ok(Loaded {
        flags: parsed.flags,
        modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(json: Value) -> Flags {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("flags.json");
        std::fs::write(&path, json.to_string()).expect("write");
        Flags::from_file(&path).expect("flags")
    }

    fn guest(n: u8) -> Subject {
        Subject::Guest(format!("guest_01HZX3K4B5C6D7E8F9G0H1J2{n:02}"))
    }

    #[test]
    fn without_a_file_or_a_flag_every_feature_is_on() {
        let none = Flags::defaults();
        let empty = flags(json!({"flags": {}}));
        for flags in [none, empty] {
            assert!(flags.enabled(Feature::Checkout, &Subject::Anonymous));
            assert!(
                flags
                    .require_merge_strategy(MergeStrategy::Sum, &guest(1))
                    .is_ok()
            );
        }
    }

    #[test]
    fn targeting_picks_the_variant_per_shopper() {
        let flags = flags(json!({"flags": {
            "checkout": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "on",
                "targeting": {"if": [{"==": [{"var": "kind"}, "guest"]}, "off", null]}},
            "graphql": {"state": "DISABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "off"},
            "merge-strategies": {"state": "ENABLED",
                "variants": {"safe": ["max", "keep"], "all": ["max", "sum", "replace", "keep"]},
                "defaultVariant": "safe",
                "targeting": {"if": [{"in": [{"var": "userId"}, ["ops"]]}, "all", null]}}
        }}));
        let alice = Subject::User("alice".into());
        assert!(flags.enabled(Feature::Checkout, &alice));
        let refused = flags
            .require(Feature::Checkout, &guest(1))
            .expect_err("off for guests");
        assert_eq!(refused.code(), Code::FeatureDisabled);
        assert!(
            flags.enabled(Feature::Graphql, &guest(1)),
            "DISABLED means the default: on"
        );
        assert!(
            flags
                .require_merge_strategy(MergeStrategy::Keep, &alice)
                .is_ok()
        );
        let sum = flags
            .require_merge_strategy(MergeStrategy::Sum, &alice)
            .expect_err("not allowed");
        assert_eq!(sum.details()["allowed_strategies"], json!(["max", "keep"]));
        assert!(
            flags
                .require_merge_strategy(MergeStrategy::Sum, &Subject::User("ops".into()))
                .is_ok()
        );
    }

    #[test]
    fn a_percentage_rollout_splits_shoppers_and_keeps_each_one_in_place() {
        let flags = flags(json!({"flags": {
            "discount-codes": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "targeting": {"fractional": [["on", 50], ["off", 50]]}}
        }}));
        let on: Vec<bool> = (0..100)
            .map(|n| flags.enabled(Feature::DiscountCodes, &guest(n)))
            .collect();
        let count = on.iter().filter(|on| **on).count();
        assert!((25..=75).contains(&count), "{count} of 100 on");
        for n in 0..100 {
            assert_eq!(
                flags.enabled(Feature::DiscountCodes, &guest(n)),
                on[n as usize],
                "stable"
            );
        }
    }

    #[test]
    fn a_file_that_is_not_flags_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("flags.json");
        std::fs::write(&path, "{not json").expect("write");
        assert!(Flags::from_file(&path).is_err());
        assert!(Flags::from_file(&dir.path().join("missing.json")).is_err());
    }
}

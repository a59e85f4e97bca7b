//! Where a secret comes from: the variable itself (`CARTD_JWT_SECRET=…`), a file
//! (`CARTD_JWT_SECRET_FILE=/run/secrets/jwt`, as Kubernetes and Docker mount secrets), or AWS
//! Secrets Manager (`CARTD_JWT_SECRET=secretsmanager://NAME[?region=…&endpoint=…&key=FIELD]`,
//! `key` picking one field of a JSON secret). `serve` reads them at start and again on
//! `SIGHUP`; the other commands read them once.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::Failure;
use crate::config::{JwtArgs, OrderArgs};

/// The prefix of a Secrets Manager reference.
const SECRETS_MANAGER: &str = "secretsmanager://";

/// How long a Secrets Manager call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One secret's settings: the variable and its `_FILE` twin.
#[derive(Debug, Clone)]
pub struct SecretSource {
    setting: &'static str,
    file_setting: &'static str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
}

impl SecretSource {
    /// `CARTD_JWT_SECRET` / `CARTD_JWT_SECRET_FILE`.
    pub fn jwt(args: &JwtArgs) -> Self {
        Self {
            setting: "CARTD_JWT_SECRET",
            file_setting: "CARTD_JWT_SECRET_FILE",
            value: args.jwt_secret.clone(),
            file: args.jwt_secret_file.clone(),
        }
    }

    /// `CARTD_PAYMENT_WEBHOOK_SECRET` / `CARTD_PAYMENT_WEBHOOK_SECRET_FILE`.
    pub fn webhook(args: &OrderArgs) -> Self {
        Self {
            setting: "CARTD_PAYMENT_WEBHOOK_SECRET",
            file_setting: "CARTD_PAYMENT_WEBHOOK_SECRET_FILE",
            value: args.payment_webhook_secret.clone(),
            file: args.payment_webhook_secret_file.clone(),
        }
    }

    /// The secret now, `None` when neither setting is given. A wrong setting is a usage error
    /// naming it (never the secret itself).
    pub async fn read(&self) -> Result<Option<SecretString>, String> {
        let usage = |setting: &str, reason: String| format!("{setting}: {reason}");
        match (&self.value, &self.file) {
            (Some(_), Some(_)) => Err(usage(
                self.file_setting,
                format!("set {} or {}, not both", self.setting, self.file_setting),
            )),
            (None, None) => Ok(None),
            (None, Some(path)) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    usage(
                        self.file_setting,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                // Files written by editors and `echo` end with a newline that is not the secret's.
                let secret = text.trim_end_matches(['\n', '\r']);
                if secret.is_empty() {
                    return Err(usage(
                        self.file_setting,
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(Some(SecretString::from(secret.to_owned())))
            }
            (Some(value), None) => match value.expose_secret().strip_prefix(SECRETS_MANAGER) {
                None => Ok(Some(value.clone())),
                Some(reference) => secrets_manager(reference)
                    .await
                    .map(Some)
                    .map_err(|reason| usage(self.setting, reason)),
            },
        }
    }
}

/// A Secrets Manager reference: the secret's name or ARN and the call's parameters.
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    name: String,
    region: Option<String>,
    endpoint: Option<String>,
    key: Option<String>,
}

fn parse_reference(raw: &str) -> Result<Reference, String> {
    let (name, query) = raw.split_once('?').unwrap_or((raw, ""));
    if name.is_empty() {
        return Err("secretsmanager:// needs a secret name or ARN".into());
    }
    let mut reference = Reference {
        name: name.to_owned(),
        region: None,
        endpoint: None,
        key: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "region" => &mut reference.region,
            "endpoint" => &mut reference.endpoint,
            "key" => &mut reference.key,
            other => {
                return Err(format!(
                    "unknown parameter `{other}` (region, endpoint, key)"
                ));
            }
        };
        *slot = Some(value.to_owned());
    }
    Ok(reference)
}

/// Fetches the secret a reference names (the reason, without the secret, on failure).
async fn secrets_manager(raw: &str) -> Result<SecretString, String> {
    let reference = parse_reference(raw)?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(TIMEOUT)
            .build(),
    );
    if let Some(region) = &reference.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &reference.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_secretsmanager::Client::new(&loader.load().await);
    let answer = client
        .get_secret_value()
        .secret_id(&reference.name)
        .send()
        .await
        .map_err(|e| {
            let e = aws_sdk_secretsmanager::error::DisplayErrorContext(e);
            format!("cannot read secret {}: {e}", reference.name)
        })?;
    let text = answer
        .secret_string()
        .ok_or_else(|| format!("secret {} has no string value", reference.name))?;
    let secret = match &reference.key {
        None => text.to_owned(),
        Some(key) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|json| json.get(key).and_then(|v| v.as_str()).map(str::to_owned))
            .ok_or_else(|| {
                format!(
                    "secret {} is not a JSON object with a string `{key}`",
                    reference.name
                )
            })?,
    };
    Ok(SecretString::from(secret))
}

/// Reads both secrets of `jwt` and `orders` in place, for the commands that read them once.
pub async fn resolve(
    jwt: Option<&mut JwtArgs>,
    orders: Option<&mut OrderArgs>,
) -> Result<(), Failure> {
    if let Some(jwt) = jwt {
        jwt.jwt_secret = SecretSource::jwt(jwt)
            .read()
            .await
            .map_err(Failure::Usage)?;
        jwt.jwt_secret_file = None;
    }
    if let Some(orders) = orders {
        orders.payment_webhook_secret = SecretSource::webhook(orders)
            .read()
            .await
            .map_err(Failure::Usage)?;
        orders.payment_webhook_secret_file = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_the_secret_and_optional_parameters() {
        assert_eq!(
            parse_reference("cartd/jwt?region=eu-west-1&key=hs256").expect("parsed"),
            Reference {
                name: "cartd/jwt".into(),
                region: Some("eu-west-1".into()),
                endpoint: None,
                key: Some("hs256".into()),
            }
        );
        assert!(parse_reference("").is_err());
        assert!(parse_reference("name?colour=blue").is_err());
    }
}

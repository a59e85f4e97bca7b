//! The development identity provider end to end: `cartd jwks keygen` writes keys, `cartd jwks
//! serve` publishes them, `cartd token --alg …` signs with them, and `cartd serve` with
//! `CARTD_JWKS_URL` accepts exactly those tokens.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, cartd, get_json, run, temp_db};

/// A running `cartd jwks serve`, killed when dropped.
struct Provider {
    child: Child,
    url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn provider(keys: &[&std::path::Path]) -> Provider {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut command = cartd();
    command
        .args(["jwks", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for key in keys {
        command.arg("--key").arg(key);
    }
    let provider = Provider {
        child: command.spawn().expect("spawn jwks serve"),
        url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(&provider.url).await
            && response.status().is_success()
        {
            return provider;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cartd jwks serve did not come up");
}

fn token(args: &[&str]) -> String {
    let minted = run(args, &[]);
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    String::from_utf8_lossy(&minted.stdout).trim().to_owned()
}

#[tokio::test]
async fn keygen_jwks_serve_and_token_drive_the_asymmetric_path_end_to_end() {
    let (dir, db) = temp_db();
    let rsa = dir.path().join("rsa.pem");
    let ec = dir.path().join("ec.pem");
    let unpublished = dir.path().join("unpublished.pem");
    for (alg, path) in [("rs256", &rsa), ("es256", &ec), ("eddsa", &unpublished)] {
        let made = run(
            &[
                "jwks",
                "keygen",
                "--alg",
                alg,
                "--out",
                path.to_str().expect("path"),
            ],
            &[],
        );
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        // The kid is printed, and the file is a PKCS#8 PEM.
        assert!(!String::from_utf8_lossy(&made.stdout).trim().is_empty());
        let pem = std::fs::read_to_string(path).expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    // keygen never overwrites a key.
    let again = run(
        &["jwks", "keygen", "--out", rsa.to_str().expect("path")],
        &[],
    );
    assert_eq!(again.status.code(), Some(2));

    let idp = provider(&[&rsa, &ec]).await;
    let published = get_json(&idp.url).await;
    let kinds: Vec<&str> = published["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kty"].as_str().expect("kty"))
        .collect();
    assert_eq!(kinds, ["RSA", "EC"]);
    assert!(
        published.to_string().find("\"d\"").is_none(),
        "no private parts published"
    );

    let server = Server::start(&db, &[("CARTD_JWKS_URL", idp.url.as_str())]).await;
    let client = reqwest::Client::new();
    let ready = get_json(&format!("{}/ready", server.base)).await;
    assert_eq!(ready["checks"]["identity_provider"]["status"], "ok");

    let rsa_path = rsa.to_str().expect("path");
    let ec_path = ec.to_str().expect("path");
    for (sub, args) in [
        (
            "rita",
            vec![
                "token", "--sub", "rita", "--alg", "rs256", "--key", rsa_path,
            ],
        ),
        (
            "emil",
            vec!["token", "--sub", "emil", "--alg", "es256", "--key", ec_path],
        ),
    ] {
        let bearer = token(&args);
        let added = client
            .post(format!("{}/v1/cart/me/items", server.base))
            .bearer_auth(&bearer)
            .json(&json!({"product_id": "book-001-pb", "quantity": 1}))
            .send()
            .await
            .expect("add");
        assert_eq!(added.status(), 201, "{sub}");
        let cart: Value = added.json().await.expect("json");
        assert_eq!(cart["user_id"], sub);
    }
    // A key the provider does not publish is refused.
    let stranger = token(&[
        "token",
        "--sub",
        "rita",
        "--alg",
        "eddsa",
        "--key",
        unpublished.to_str().expect("path"),
    ]);
    let refused = client
        .get(format!("{}/v1/cart/me", server.base))
        .bearer_auth(stranger)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 401);
    // An algorithm that is not the key's is a usage error.
    let mismatch = run(
        &[
            "token", "--sub", "rita", "--alg", "es256", "--key", rsa_path,
        ],
        &[],
    );
    assert_eq!(mismatch.status.code(), Some(2));
    // A JWKS URL that is not http(s) is a startup error naming the setting.
    let other_db = crate::harness::store_url(&dir.path().join("other.db"));
    let bad = run(
        &["serve"],
        &[
            ("CARTD_JWKS_URL", "ftp://idp"),
            ("CARTD_STORE", other_db.as_str()),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CARTD_JWKS_URL"));
}

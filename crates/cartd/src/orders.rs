//! The order commands: `cartd payments simulate`, `cartd worker` and `cartd dead-letters`.

use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use uuid::Uuid;

use cart_core::use_cases::Actor;
use cart_core::{CartPolicy, CartService, RandomIds, SystemClock};

use crate::Failure;
use crate::config::{OrderArgs, PaymentOutcome, StoreArgs, WorkerCommandArgs, redacted_url};

/// A service over the store of `store`, with orders wired, for the commands that act on orders.
async fn service(store: &StoreArgs, orders: &OrderArgs) -> Result<Arc<CartService>, Failure> {
    Ok(open(store, orders).await?.1)
}

/// The store of `store` opened, and a service over it with orders wired: what the commands
/// that act on orders, the relay and the sweeper need (no router, no catalog loading).
pub async fn open(
    store: &StoreArgs,
    orders: &OrderArgs,
) -> Result<(cart_store::Backend, Arc<CartService>), Failure> {
    let policy = orders.policy()?;
    let backend = cart_store::open(&store.url)
        .await
        .with_context(|| format!("cannot open the store {}", redacted_url(&store.url)))?;
    let service = Arc::new(
        CartService::new(
            backend.store(),
            backend.catalog(),
            backend.pricing(),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
            CartPolicy::default(),
        )
        .with_orders(cart_core::OrderPorts {
            records: backend.records(),
            payments: Arc::new(cart_api::payments::WebhookPayments),
            policy,
        }),
    );
    Ok((backend, service))
}

/// `cartd payments simulate --order ID succeed|fail`: reads the order's payment intent, signs
/// a provider event about it with `CARTD_PAYMENT_WEBHOOK_SECRET` and posts it to the webhook
/// of the cartd at `url`; prints the answer.
pub async fn simulate(
    order: Uuid,
    outcome: PaymentOutcome,
    url: &str,
    store: &StoreArgs,
    orders: &OrderArgs,
) -> Result<(), Failure> {
    let Some(secret) = &orders.payment_webhook_secret else {
        return Err(Failure::Usage(
            "CARTD_PAYMENT_WEBHOOK_SECRET: the secret the server checks webhooks with is needed to sign one".into(),
        ));
    };
    let service = service(store, orders).await?;
    let found = service
        .order(order, &Actor::Admin)
        .await
        .map_err(|e| Failure::Usage(format!("order {order}: {e}")))?;
    let event_id = format!("evt_{}", Uuid::now_v7().simple());
    let body = cart_api::payments::event_body(
        &event_id,
        outcome == PaymentOutcome::Succeed,
        &found.payment,
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature =
        cart_api::payments::sign(secret.expose_secret().as_bytes(), now, body.as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/v1/payments/webhook", url.trim_end_matches('/')))
        .header(cart_api::payments::SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{text}");
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!(
            "the webhook answered {status}"
        )))
    }
}

/// `cartd worker`: the order worker alone, until SIGTERM or Ctrl-C.
pub async fn worker(args: WorkerCommandArgs) -> Result<(), Failure> {
    let service = service(&args.store, &args.orders).await?;
    let secret = cart_api::secret::RotatingSecret::new(args.orders.payment_webhook_secret.clone());
    let fulfiller = crate::worker::fulfiller(&args.orders, std::sync::Arc::new(secret))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(crate::worker::run(
        service,
        fulfiller,
        args.orders.clone(),
        stop_rx,
    ));
    crate::serve::shutdown_signal().await;
    tracing::info!("stopping the order worker");
    let _ = stop_tx.send(true);
    let _ = running.await;
    Ok(())
}

/// `cartd dead-letters list`: one JSON order per line.
pub async fn list_dead_letters(limit: usize, store: &StoreArgs) -> Result<(), Failure> {
    let service = service(store, &default_orders()).await?;
    let orders = service
        .dead_letters(None, limit)
        .await
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("{e}")))?;
    for order in &orders {
        let view = cart_api::order_dto::OrderView::new(order, false);
        println!("{}", serde_json::to_string(&view).unwrap_or_default());
    }
    Ok(())
}

/// `cartd dead-letters retry ID`: back to `paid`, for the worker to take again.
pub async fn retry_dead_letter(order: Uuid, store: &StoreArgs) -> Result<(), Failure> {
    let service = service(store, &default_orders()).await?;
    let retried = service
        .act_on_order(
            order,
            cart_core::order::Action::Retry,
            &Actor::Admin,
            Some("retried with cartd dead-letters retry".into()),
            None,
        )
        .await
        .map_err(|e| Failure::Usage(format!("order {order}: {e}")))?;
    println!(
        "{} {} is {}",
        retried.number,
        retried.id,
        retried.status.as_str()
    );
    Ok(())
}

/// The order settings' defaults, for commands that take none.
fn default_orders() -> OrderArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        orders: OrderArgs,
    }
    Defaults::parse_from(["cartd"]).orders
}

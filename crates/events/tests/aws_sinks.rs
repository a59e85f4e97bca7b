//! The SNS, SQS and EventBridge sinks against a real moto server.
//!
//! Start one with `python3 -m moto.server -H 127.0.0.1 -p 5005` (`pip install "moto[server]"`);
//! `CARTD_TEST_AWS_ENDPOINT` points elsewhere. Without a server the tests that need one print
//! why they skip, unless `CARTD_REQUIRE_SERVICES=1`, which makes them fail. Every test creates
//! its own topic, queue, bus and rule, named with a fresh uuid.
#![cfg(feature = "aws")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::Client as EventBridgeClient;
use aws_sdk_sns::Client as SnsClient;
use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use cart_core::{CartEvent, CartKey, EventType, LineChange, Owner, ProductId, Totals};
use cart_events::sink::{self, PublishError, SinkUrl};
use cart_events::{Envelope, Sink};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// The region every resource is made in.
const REGION: &str = "us-east-1";
/// How long a test waits for everything it sent to arrive.
const DELIVERY_BOUND: Duration = Duration::from_secs(30);

/// The moto server these tests talk to.
struct Moto {
    /// Its URL, for the sinks' `endpoint` parameter and the SDK clients.
    endpoint: String,
}

impl Moto {
    /// The server, if it answers; `None` (after saying why) if the test should skip.
    async fn get() -> Option<Self> {
        let endpoint = std::env::var("CARTD_TEST_AWS_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:5005".to_owned());
        let address = url::Url::parse(&endpoint)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_else(|| panic!("CARTD_TEST_AWS_ENDPOINT is not a URL: {endpoint}"));
        let connect = tokio::net::TcpStream::connect(&address);
        let why = match tokio::time::timeout(Duration::from_secs(2), connect).await {
            Ok(Ok(_)) => return Some(Self { endpoint }),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        let reason = format!(
            "no AWS emulator at {endpoint} ({why}); start one with \
             `python3 -m moto.server -H 127.0.0.1 -p 5005`"
        );
        if std::env::var("CARTD_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{reason}");
        }
        eprintln!("skipping: {reason}");
        None
    }

    /// The query string that points a sink URL at this server.
    fn params(&self) -> String {
        format!("endpoint={}&region={REGION}", self.endpoint)
    }

    /// The SDK settings every client of the tests shares: moto's endpoint, placeholder keys.
    fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sns::config::SharedCredentialsProvider::new(
                aws_sdk_sns::config::Credentials::new("local", "local", None, None, "test"),
            ))
            .build()
    }

    fn sns(&self) -> SnsClient {
        SnsClient::new(&self.sdk_config())
    }

    fn sqs(&self) -> SqsClient {
        SqsClient::new(&self.sdk_config())
    }

    fn eventbridge(&self) -> EventBridgeClient {
        EventBridgeClient::new(&self.sdk_config())
    }

    /// A fresh queue (FIFO, without content-based deduplication, if `fifo`): its URL and ARN.
    async fn queue(&self, fifo: bool) -> (String, String) {
        let sqs = self.sqs();
        let mut create = sqs.create_queue().queue_name(unique("cartd-q", fifo));
        if fifo {
            create = create
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(QueueAttributeName::ContentBasedDeduplication, "false");
        }
        let output = create.send().await.expect("create queue");
        let url = output.queue_url().expect("queue url").to_owned();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        (url, arn)
    }

    /// Receives (and deletes) messages from `queue_url`, in the order received, until `want`
    /// distinct bodies have arrived or [`DELIVERY_BOUND`] has passed.
    async fn drain(&self, queue_url: &str, want: usize) -> Vec<Message> {
        let sqs = self.sqs();
        let started = Instant::now();
        let mut distinct = BTreeSet::new();
        let mut received = Vec::new();
        while distinct.len() < want && started.elapsed() < DELIVERY_BOUND {
            let output = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                .send()
                .await
                .expect("receive");
            let messages = output.messages().to_vec();
            if messages.is_empty() {
                continue;
            }
            let entries = messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().expect("receipt handle"))
                        .build()
                        .expect("delete entry")
                })
                .collect();
            sqs.delete_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("delete");
            for message in messages {
                distinct.insert(message.body().unwrap_or_default().to_owned());
                received.push(message);
            }
        }
        received
    }
}

/// A resource name no other test (or earlier run) uses.
fn unique(prefix: &str, fifo: bool) -> String {
    let name = format!("{prefix}-{}", Uuid::new_v4().simple());
    if fifo { format!("{name}.fifo") } else { name }
}

/// The envelope of `cart`'s change to `version`, published by `/cartd`.
fn envelope(cart: &str, version: u64) -> Envelope {
    let event_type = if version == 1 {
        EventType::CartCreated
    } else {
        EventType::ItemAdded
    };
    let event = CartEvent {
        id: Uuid::now_v7(),
        event_type,
        cart_id: Uuid::new_v4(),
        cart_key: CartKey::parse(cart).expect("cart key"),
        owner: Owner::User,
        version,
        occurred_at: OffsetDateTime::now_utc(),
        line: Some(LineChange {
            item_id: Uuid::new_v4(),
            product_id: ProductId::parse("sku-1").expect("product id"),
            variant_id: None,
            quantity_before: 0,
            quantity_after: 1,
            unit_price: 1250,
        }),
        totals: Totals {
            item_count: 1,
            total_quantity: 1,
            total_price: 1250,
        },
        currency: "EUR".into(),
        merge: None,
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        pricing: Default::default(),
        order: None,
    };
    Envelope::from_event(&event, "/cartd")
}

/// `per_cart` changes of each of `carts` fresh carts, interleaved as an outbox holds them.
fn interleaved(carts: usize, per_cart: u64) -> Vec<Envelope> {
    let keys: Vec<String> = (0..carts)
        .map(|i| format!("user-{i}-{}", Uuid::new_v4().simple()))
        .collect();
    (1..=per_cart)
        .flat_map(|version| keys.iter().map(move |key| envelope(key, version)))
        .collect()
}

/// The sink a `CARTD_EVENTS` URL names, made the way cartd makes it.
async fn connect(url: &str) -> Arc<dyn Sink> {
    sink::connect(&SinkUrl::parse(url).expect("sink url"))
        .await
        .expect("connect")
}

/// The envelope as the JSON value consumers parse.
fn json(envelope: &Envelope) -> Value {
    serde_json::from_slice(&envelope.to_json()).expect("envelope json")
}

/// A message's string attribute `name`.
fn attribute<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
}

/// Checks that `messages` carry exactly the events of `sent`, each once, each body the
/// envelope itself with `type` and `subject` also as message attributes; returns the bodies in
/// the order received.
fn assert_exactly(sent: &[Envelope], messages: &[Message]) -> Vec<Value> {
    let by_id: HashMap<String, &Envelope> = sent.iter().map(|e| (e.id.to_string(), e)).collect();
    let mut bodies = Vec::new();
    for message in messages {
        let body: Value =
            serde_json::from_str(message.body().expect("body")).expect("the body is JSON");
        let envelope = body["id"]
            .as_str()
            .and_then(|id| by_id.get(id))
            .unwrap_or_else(|| panic!("received an event that was not sent: {body}"));
        assert_eq!(body, json(envelope), "the body is the envelope");
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["type"], envelope.event_type);
        assert_eq!(body["subject"], envelope.subject.as_str());
        assert_eq!(attribute(message, "type"), Some(envelope.event_type));
        assert_eq!(
            attribute(message, "subject"),
            Some(envelope.subject.as_str())
        );
        bodies.push(body);
    }
    let received: Vec<&str> = bodies.iter().filter_map(|b| b["id"].as_str()).collect();
    let distinct: BTreeSet<&str> = received.iter().copied().collect();
    assert_eq!(distinct.len(), received.len(), "no event arrives twice");
    let expected: BTreeSet<&str> = by_id.keys().map(String::as_str).collect();
    assert_eq!(distinct, expected, "every event arrives, and nothing else");
    bodies
}

#[tokio::test]
async fn an_sqs_queue_subscribed_to_the_sns_topic_receives_every_event() {
    let Some(moto) = Moto::get().await else {
        return;
    };
    let topic = moto
        .sns()
        .create_topic()
        .name(unique("cartd-topic", false))
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic arn")
        .to_owned();
    let (queue_url, queue_arn) = moto.queue(false).await;
    moto.sns()
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");

    let sink = connect(&format!("sns://{topic}?{}", moto.params())).await;
    assert_eq!(sink.name(), "sns");
    let sent = interleaved(5, 5);
    assert_eq!(sent.len(), 25, "three chunks");
    sink.publish(&sent).await.expect("publish");

    assert_exactly(&sent, &moto.drain(&queue_url, sent.len()).await);
}

#[tokio::test]
async fn a_fifo_queue_receives_every_event_in_each_carts_order() {
    let Some(moto) = Moto::get().await else {
        return;
    };
    let (queue_url, _) = moto.queue(true).await;
    let sink = connect(&format!("sqs://{queue_url}?{}", moto.params())).await;
    assert_eq!(sink.name(), "sqs");
    let sent = interleaved(3, 8);
    // Two publishes, as two relay rounds make them: three chunks, then one.
    sink.publish(&sent[..20]).await.expect("publish round 1");
    sink.publish(&sent[20..]).await.expect("publish round 2");

    let messages = moto.drain(&queue_url, sent.len()).await;
    let bodies = assert_exactly(&sent, &messages);
    let mut per_cart: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (message, body) in messages.iter().zip(&bodies) {
        let cart = body["subject"].as_str().expect("subject").to_owned();
        let group = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId));
        assert_eq!(group, Some(&cart), "the message group is the cart key");
        let sequence = body["sequence"].as_str().expect("sequence").to_owned();
        per_cart.entry(cart).or_default().push(sequence);
    }
    assert_eq!(per_cart.len(), 3);
    for (cart, sequences) in per_cart {
        let mut sorted = sequences.clone();
        sorted.sort();
        assert_eq!(sequences, sorted, "cart {cart}'s events arrive in order");
    }
}

#[tokio::test]
async fn a_rule_on_the_bus_delivers_every_event_with_the_envelope_as_detail() {
    let Some(moto) = Moto::get().await else {
        return;
    };
    let events = moto.eventbridge();
    let bus = unique("cartd-bus", false);
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let (queue_url, queue_arn) = moto.queue(false).await;
    let rule = unique("cartd-rule", false);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(r#"{"source": ["/cartd"]}"#)
        .send()
        .await
        .expect("put rule");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("put targets");

    let sink = connect(&format!("eventbridge://{bus}?{}", moto.params())).await;
    assert_eq!(sink.name(), "eventbridge");
    let sent = interleaved(4, 3);
    sink.publish(&sent).await.expect("publish");

    let messages = moto.drain(&queue_url, sent.len()).await;
    let by_id: HashMap<String, &Envelope> = sent.iter().map(|e| (e.id.to_string(), e)).collect();
    let mut received = BTreeSet::new();
    for message in &messages {
        let event: Value =
            serde_json::from_str(message.body().expect("body")).expect("the event is JSON");
        let detail = &event["detail"];
        let envelope = detail["id"]
            .as_str()
            .and_then(|id| by_id.get(id))
            .unwrap_or_else(|| panic!("received an event that was not sent: {event}"));
        assert_eq!(detail, &json(envelope), "the detail is the envelope");
        assert_eq!(event["source"], "/cartd");
        assert_eq!(event["detail-type"], envelope.event_type);
        assert!(
            received.insert(envelope.id),
            "{} arrived twice",
            envelope.id
        );
    }
    let expected: BTreeSet<Uuid> = sent.iter().map(|e| e.id).collect();
    assert_eq!(received, expected, "every event arrives, and nothing else");
}

#[tokio::test]
async fn a_sink_without_a_service_behind_it_publishes_nothing() {
    // Port 9 (discard) has no listener here: every connection is refused.
    let dead = "http://127.0.0.1:9";
    let params = format!("endpoint={dead}&region={REGION}");
    let batch = interleaved(2, 2);
    for url in [
        format!("sns://arn:aws:sns:{REGION}:123456789012:cartd-gone?{params}"),
        format!("sqs://{dead}/123456789012/cartd-gone?{params}"),
        format!("eventbridge://cartd-gone?{params}"),
    ] {
        let sink = connect(&url).await;
        let started = Instant::now();
        let outcome = sink.publish(&batch).await;
        assert!(
            matches!(outcome, Err(PublishError { published: 0, .. })),
            "{url}: {outcome:?}"
        );
        // The SDK's retries end within the sinks' five-second operation timeout.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn sns_counts_only_the_events_before_the_first_rejected_one() {
    let Some(moto) = Moto::get().await else {
        return;
    };
    let topic = moto
        .sns()
        .create_topic()
        .name(unique("cartd-topic", false))
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic arn")
        .to_owned();
    let sink = connect(&format!("sns://{topic}?{}", moto.params())).await;
    let mut batch = interleaved(3, 5);
    // The third entry of the second chunk is over SNS's 256 KiB message limit, so SNS rejects
    // that entry alone (and takes the ones around it).
    batch[12].data.currency = "X".repeat(300 * 1024);

    let error = sink
        .publish(&batch)
        .await
        .expect_err("an entry is too long");
    assert_eq!(error.published, 12, "{error}");
    assert!(error.message.contains(&batch[12].id.to_string()), "{error}");
}

#[tokio::test]
async fn eventbridge_counts_only_the_events_before_the_first_rejected_one() {
    let Some(moto) = Moto::get().await else {
        return;
    };
    let bus = unique("cartd-bus", false);
    moto.eventbridge()
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let sink = connect(&format!("eventbridge://{bus}?{}", moto.params())).await;
    let mut batch = interleaved(3, 5);
    // An entry without a source is refused on its own; the fourth of the second chunk here.
    batch[13].source = String::new();

    let error = sink
        .publish(&batch)
        .await
        .expect_err("an entry has no source");
    assert_eq!(error.published, 13, "{error}");
    assert!(error.message.contains(&batch[13].id.to_string()), "{error}");
}

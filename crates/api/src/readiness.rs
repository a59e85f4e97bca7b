//! Dependencies other than the store that `/ready` reports (the event relay, …). They can make
//! the service *degraded*, never *not ready*: only a store that does not answer stops traffic,
//! because another replica could not do better without it.

/// What a dependency reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Working; an optional note (e.g. how many events wait).
    Ok(Option<String>),
    /// Not working, but requests are still served correctly (e.g. a broker is down and events
    /// wait in the outbox).
    Degraded(String),
}

/// A dependency shown under `checks` in `/ready`.
pub trait ReadyCheck: Send + Sync + 'static {
    /// Its name under `checks`.
    fn name(&self) -> &'static str;
    /// Its state now; must answer from memory, without I/O.
    fn readiness(&self) -> Readiness;
}

//! Reads of many callers sent to a vault server together: one round trip answers every read
//! that arrived while the previous round trips were out.
//!
//! On a shared vault every KMIP operation on a key reads the server (PostgreSQL or Redis): its
//! record, with whether a shred notice of it is queued. On a small machine the server's
//! per-request work, not the network, is what bounds Gets per second. So under load reads
//! queue here, and a worker sends what has queued as one request (a single `SELECT` or one
//! pipeline) while at most [`IN_FLIGHT`] are out; the batches grow by themselves, and no read
//! waits for a timer.
//! A read that finds nothing queued and a round trip free goes out at once from its own task,
//! without the queue's hand-offs: at one connection the batcher costs nothing.
//! Nothing is cached: every read is answered by the server, after it was asked.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{VaultError, storage};

/// The most reads in one round trip.
const MAX_BATCH: usize = 64;
/// Round trips out at once: two, so that one batch is gathered while the other is answered.
const IN_FLIGHT: usize = 2;
/// Reads that may wait for a round trip; more wait to be queued (the caller's own timeout
/// still bounds them).
const QUEUE: usize = 4096;

/// Where a read looks: the owner and the id.
pub(super) type Place = (String, String);

/// What a round trip answers for each place, in order; `Err` if the round trip failed as a
/// whole (its error, as text, goes to every read in it).
pub(super) type Answers<T> = Result<Vec<Result<T, VaultError>>, VaultError>;

/// One round trip for a batch of places.
type Fetch<T> =
    Arc<dyn Fn(Vec<Place>) -> Pin<Box<dyn Future<Output = Answers<T>> + Send>> + Send + Sync>;

/// The queue of reads answered by `T` and its worker. Cloned with the vault; the worker stops
/// when the last clone is dropped.
pub(super) struct ReadBatcher<T> {
    reads: mpsc::Sender<Read<T>>,
    /// The round trips out, the worker's and the direct reads' together.
    slots: Arc<Semaphore>,
    fetch: Fetch<T>,
    /// What the reads are, for their errors.
    context: &'static str,
}

impl<T> Clone for ReadBatcher<T> {
    fn clone(&self) -> Self {
        Self {
            reads: self.reads.clone(),
            slots: Arc::clone(&self.slots),
            fetch: Arc::clone(&self.fetch),
            context: self.context,
        }
    }
}

impl<T> std::fmt::Debug for ReadBatcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBatcher")
            .field("queued", &(QUEUE - self.reads.capacity()))
            .finish()
    }
}

struct Read<T> {
    place: Place,
    answer: oneshot::Sender<Result<T, VaultError>>,
}

impl<T: Send + 'static> ReadBatcher<T> {
    /// Starts the worker, which answers batches of places with `fetch`; `context` says what
    /// the reads are, for their errors. `fetch` must not hold the vault that holds this
    /// batcher (the worker would then never stop): hand it what it needs.
    pub(super) fn spawn<F, Fut>(context: &'static str, fetch: F) -> Self
    where
        F: Fn(Vec<Place>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answers<T>> + Send + 'static,
    {
        let fetch: Fetch<T> = Arc::new(move |places| Box::pin(fetch(places)));
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let (reads, queue) = mpsc::channel(QUEUE);
        tokio::spawn(work(queue, Arc::clone(&fetch), Arc::clone(&slots), context));
        Self {
            reads,
            slots,
            fetch,
            context,
        }
    }

    /// The answer for the owner's `id`: read at once if nothing is queued and a round trip is
    /// free, else in the next batch.
    pub(super) async fn get(&self, owner: &str, id: &str) -> Result<T, VaultError> {
        let place = (owner.to_owned(), id.to_owned());
        if self.reads.capacity() == QUEUE
            && let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned()
        {
            let answers = (self.fetch)(vec![place]).await;
            drop(slot);
            return only(answers, self.context);
        }
        let (answer, answered) = oneshot::channel();
        let read = Read { place, answer };
        let stopped = || storage(self.context, "the vault's read queue stopped");
        self.reads.send(read).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The one answer of a round trip for one place.
fn only<T>(answers: Answers<T>, context: &'static str) -> Result<T, VaultError> {
    let (reader, mut answered) = oneshot::channel();
    deliver(vec![reader], answers, context);
    // Delivered just above: the answer is there.
    answered
        .try_recv()
        .map_err(|_| storage(context, "a read got no answer"))?
}

/// Takes what has queued whenever a round trip may go out, and sends it.
async fn work<T: Send + 'static>(
    mut queue: mpsc::Receiver<Read<T>>,
    fetch: Fetch<T>,
    slots: Arc<Semaphore>,
    context: &'static str,
) {
    loop {
        // A free slot first: the reads that arrive meanwhile join the next batch.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(read) => batch.push(read),
                Err(_) => break,
            }
        }
        let (places, answers): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|r| (r.place, r.answer)).unzip();
        let round_trip = fetch(places);
        tokio::spawn(async move {
            deliver(answers, round_trip.await, context);
            drop(slot);
        });
    }
}

/// Hands each read its answer; a read whose caller gave up is skipped.
fn deliver<T>(
    readers: Vec<oneshot::Sender<Result<T, VaultError>>>,
    answers: Answers<T>,
    context: &'static str,
) {
    match answers {
        Ok(answers) if answers.len() == readers.len() => {
            for (reader, answer) in readers.into_iter().zip(answers) {
                let _ = reader.send(answer);
            }
        }
        Ok(answers) => {
            let message = format!("{} answers to {} reads", answers.len(), readers.len());
            for reader in readers {
                let _ = reader.send(Err(storage(context, message.clone())));
            }
        }
        Err(error) => {
            let message = krypton_service::ErrorChain(&error).to_string();
            for reader in readers {
                let _ = reader.send(Err(storage(context, message.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::Record;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A fetch that records the batches it was given and answers `None` to each place, after
    /// `delay`.
    fn recording(delay: Duration) -> (ReadBatcher<Option<Record>>, Arc<Mutex<Vec<usize>>>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let batcher = ReadBatcher::spawn("reading records", move |places: Vec<Place>| {
            seen.lock().unwrap().push(places.len());
            async move {
                tokio::time::sleep(delay).await;
                Ok(places.iter().map(|_| Ok(None)).collect())
            }
        });
        (batcher, batches)
    }

    #[tokio::test]
    async fn a_lone_read_goes_out_alone_and_concurrent_ones_together() {
        let (batcher, batches) = recording(Duration::from_millis(20));
        assert!(batcher.get("alice", "1").await.unwrap().is_none());
        assert_eq!(*batches.lock().unwrap(), [1]);

        let reads: Vec<_> = (0..40)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.get("alice", &i.to_string()).await })
            })
            .collect();
        for read in reads {
            assert!(read.await.unwrap().unwrap().is_none());
        }
        let batches = batches.lock().unwrap();
        assert_eq!(batches.iter().sum::<usize>(), 41);
        assert!(batches.len() < 10, "{batches:?}");
    }

    #[tokio::test]
    async fn a_failed_round_trip_fails_each_read_in_it_with_the_reason() {
        let batcher: ReadBatcher<bool> =
            ReadBatcher::spawn("reading shred notices", |_places: Vec<Place>| async {
                Err(storage("reading shred notices", "connection refused"))
            });
        let error = batcher.get("alice", "1").await.unwrap_err();
        let chain = krypton_service::ErrorChain(&error).to_string();
        assert!(chain.contains("connection refused"), "{chain}");
    }

    #[tokio::test]
    async fn each_read_gets_its_own_answer() {
        let batcher = ReadBatcher::spawn("reading records", |places: Vec<Place>| async move {
            Ok(places
                .into_iter()
                .map(|(owner, id)| match id.as_str() {
                    "bad" => Err(VaultError::Misplaced { owner, id }),
                    _ => Ok(None::<Record>),
                })
                .collect())
        });
        let (good, bad) = tokio::join!(batcher.get("alice", "ok"), batcher.get("alice", "bad"));
        assert!(good.unwrap().is_none());
        assert!(matches!(bad, Err(VaultError::Misplaced { .. })));
    }
}

//! One ONNX Runtime session per model, shared by every dataflow worker.
//!
//! Each timely worker builds its own instance of a model stage, but the
//! stage's sessions are not its own: [`shared`] opens a model once per
//! process (per file, provider and thread count) and hands every instance a
//! [`Client`] of the same *model service*, a thread that owns the
//! [`Session`]. A worker sends its prepared rows (one `f32` input tensor,
//! the batch dimension first) with a reply channel and waits; the service
//! gathers the requests that are waiting — up to the request's `cap` rows
//! (the stage's batch: its `batch:`, `batch_size`, the model's fixed batch
//! or the tuned GPU batch), or fewer once every client is waiting or after a
//! short linger — concatenates them along the batch dimension, runs one
//! inference and scatters the outputs back, row for row.
//!
//! ONNX Runtime computes every row of a batch independently for the image
//! models Facet runs (convolutions, pooling, dense layers, per-row
//! activations), so gathering changes no number; a model whose outputs
//! depend on the batch's composition (batch normalisation in training mode,
//! say) would, which is why a stage may also send a `solo` request that
//! runs alone. Outputs whose first dimension is not the batch cannot be
//! split: the service then runs the gathered requests one by one.
//!
//! The session lives as long as some stage instance holds a client (the
//! registry keeps only a weak reference): a multi-pass run that unloads a
//! pass drops it, the next chunk opens it again.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use facet_engine::StageError;
use ort::session::Session;
use ort::value::{Tensor, ValueType};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};

use super::{Provider, open_session};

/// How long the service waits for more rows when some clients are not
/// waiting on it (they may be decoding, or on another model).
const LINGER: Duration = Duration::from_millis(5);

/// A model's inputs and outputs, read when it is opened.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Input names and shapes (−1: any), in the model's order.
    pub inputs: Vec<(String, Vec<i64>)>,
    /// Output names, in the model's order.
    pub outputs: Vec<String>,
}

impl ModelInfo {
    fn of(session: &Session) -> ModelInfo {
        ModelInfo {
            inputs: session
                .inputs()
                .iter()
                .map(|i| {
                    let shape = match i.dtype() {
                        ValueType::Tensor { shape, .. } => shape.iter().copied().collect(),
                        _ => Vec::new(),
                    };
                    (i.name().to_string(), shape)
                })
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|o| o.name().to_string())
                .collect(),
        }
    }

    /// The fixed batch size of input `name`, if its first dimension is fixed.
    pub fn fixed_batch(&self, name: &str) -> Option<usize> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.first().copied())
            .filter(|&d| d > 0)
            .map(|d| d as usize)
    }
}

/// One output of a run on a request's rows: name, shape (the first
/// dimension is the request's rows) and values. Outputs that are not `f32`
/// tensors are left out.
pub type Outputs = Vec<(String, Vec<i64>, Vec<f32>)>;

struct Request {
    input: String,
    /// `[rows, …]`.
    shape: Vec<usize>,
    data: Vec<f32>,
    /// The most rows one inference may carry (for this request's stage).
    cap: usize,
    /// Run alone, never gathered.
    solo: bool,
    reply: SyncSender<Result<Outputs, String>>,
}

impl Request {
    fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    fn fits_with(&self, other: &Request) -> bool {
        !self.solo
            && !other.solo
            && self.input == other.input
            && self.shape.get(1..) == other.shape.get(1..)
    }
}

/// The service of one model: the channel to its thread.
struct Service {
    tx: Option<Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
    info: ModelInfo,
    /// Clients alive (stage instances holding this model).
    clients: Arc<AtomicUsize>,
    path: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which drops the session.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A stage instance's handle on a shared model.
pub struct Client {
    service: Arc<Service>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.service.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Client {
    pub fn info(&self) -> &ModelInfo {
        &self.service.info
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.service.path
    }

    /// Runs the model on `data` of `shape` (`[rows, …]`) fed to `input`,
    /// gathered with other workers' rows into inferences of at most `cap`
    /// rows (`solo`: alone). Every output's shape and values for these rows.
    pub fn run(
        &self,
        input: &str,
        shape: Vec<usize>,
        data: Vec<f32>,
        cap: usize,
        solo: bool,
    ) -> Result<Outputs, String> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let tx = self.service.tx.as_ref().expect("open until dropped");
        tx.send(Request {
            input: input.to_string(),
            shape,
            data,
            cap: cap.max(1),
            solo,
            reply,
        })
        .map_err(|_| format!("the model service of {} stopped", self.path().display()))?;
        answer
            .recv()
            .map_err(|_| format!("the model service of {} stopped", self.path().display()))?
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    provider: Provider,
    threads: usize,
}

fn registry() -> &'static Mutex<HashMap<Key, Weak<Service>>> {
    static R: OnceLock<Mutex<HashMap<Key, Weak<Service>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// A client of the process's session of `path` (with `provider` and
/// `threads` intra-op threads), opening it on first use.
pub fn shared(path: &Path, provider: Provider, threads: usize) -> Result<Client, StageError> {
    let key = Key {
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        provider,
        threads,
    };
    // Held while a session opens: a second worker waits for it rather than
    // opening its own copy.
    let mut services = registry().lock().unwrap_or_else(|e| e.into_inner());
    services.retain(|_, s| s.strong_count() > 0);
    // (The bench's baseline: every stage instance opens its own session.)
    let private = facet_engine::runtime::session_per_worker();
    let found = if private {
        None
    } else {
        services.get(&key).and_then(Weak::upgrade)
    };
    let service = match found {
        Some(s) => s,
        None => {
            let session = open_session(path, provider, threads)?;
            let info = ModelInfo::of(&session);
            let clients = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = std::sync::mpsc::channel();
            let thread = {
                let clients = clients.clone();
                let name = path
                    .file_name()
                    .map_or("model".into(), |n| n.to_string_lossy().to_string());
                let info = info.clone();
                std::thread::Builder::new()
                    .name(format!("onnx {name}"))
                    .spawn(move || serve(session, info, rx, clients))
                    .map_err(|e| StageError::Resource(format!("starting a model thread: {e}")))?
            };
            let s = Arc::new(Service {
                tx: Some(tx),
                thread: Some(thread),
                info,
                clients,
                path: path.to_path_buf(),
            });
            if !private {
                services.insert(key, Arc::downgrade(&s));
            }
            s
        }
    };
    service.clients.fetch_add(1, Ordering::SeqCst);
    Ok(Client { service })
}

/// The service loop: gather, run, scatter, until every client is gone.
fn serve(mut session: Session, info: ModelInfo, rx: Receiver<Request>, clients: Arc<AtomicUsize>) {
    let mut held: VecDeque<Request> = VecDeque::new();
    loop {
        let first = match held.pop_front() {
            Some(r) => r,
            None => match rx.recv() {
                Ok(r) => r,
                Err(_) => return,
            },
        };
        let mut group = vec![first];
        let mut rows = group[0].rows();
        let cap = group[0].cap;
        let deadline = Instant::now() + LINGER;
        // Requests held back from an earlier round come first.
        let mut i = 0;
        while i < held.len() && rows < cap {
            if held[i].fits_with(&group[0]) && rows + held[i].rows() <= cap {
                rows += held[i].rows();
                group.push(held.remove(i).expect("in range"));
            } else {
                i += 1;
            }
        }
        while !group[0].solo && rows < cap {
            // Every client waits on this model: nothing more can come.
            if group.len() + held.len() >= clients.load(Ordering::SeqCst) {
                match rx.try_recv() {
                    Ok(r) => take(&mut group, &mut held, &mut rows, cap, r),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => break,
                }
                continue;
            }
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(r) => take(&mut group, &mut held, &mut rows, cap, r),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        run_group(&mut session, &info, group);
    }
}

/// Adds `r` to the group when it fits, else holds it for the next round.
fn take(
    group: &mut Vec<Request>,
    held: &mut VecDeque<Request>,
    rows: &mut usize,
    cap: usize,
    r: Request,
) {
    if r.fits_with(&group[0]) && *rows + r.rows() <= cap {
        *rows += r.rows();
        group.push(r);
    } else {
        held.push_back(r);
    }
}

fn run_group(session: &mut Session, info: &ModelInfo, mut group: Vec<Request>) {
    if group.len() == 1 {
        let r = group.pop().expect("one");
        let out = catch(|| infer(session, info, &r.input, r.shape.clone(), r.data));
        let _ = r.reply.send(out);
        return;
    }
    let rows: Vec<usize> = group.iter().map(Request::rows).collect();
    let total: usize = rows.iter().sum();
    let mut shape = group[0].shape.clone();
    shape[0] = total;
    let input = group[0].input.clone();
    let mut data = Vec::with_capacity(group.iter().map(|r| r.data.len()).sum());
    for r in &group {
        data.extend_from_slice(&r.data);
    }
    let out = catch(|| infer(session, info, &input, shape, data));
    match out {
        Ok(outputs)
            if outputs
                .iter()
                .all(|(_, s, _)| s.first() == Some(&(total as i64))) =>
        {
            let mut at = 0;
            for (r, n) in group.into_iter().zip(rows) {
                let mine = outputs
                    .iter()
                    .map(|(name, s, v)| {
                        let per = v.len() / total.max(1);
                        let mut s = s.clone();
                        s[0] = n as i64;
                        (name.clone(), s, v[at * per..(at + n) * per].to_vec())
                    })
                    .collect();
                at += n;
                let _ = r.reply.send(Ok(mine));
            }
        }
        // Outputs not split by rows, or a failure: each request on its own,
        // so that one bad input fails only its own rows.
        _ => {
            for r in group {
                let out = catch(|| infer(session, info, &r.input, r.shape.clone(), r.data));
                let _ = r.reply.send(out);
            }
        }
    }
}

/// A panic in ONNX Runtime's bindings fails the request, not the service.
fn catch(f: impl FnOnce() -> Result<Outputs, String>) -> Result<Outputs, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("inference failed: panic in ONNX Runtime".into()))
}

/// One inference; a model with a fixed batch is padded to it with zeros
/// and its outputs cut back to the rows asked for.
fn infer(
    session: &mut Session,
    info: &ModelInfo,
    input: &str,
    mut shape: Vec<usize>,
    mut data: Vec<f32>,
) -> Result<Outputs, String> {
    let rows = shape.first().copied().unwrap_or(1);
    let pad_to = info.fixed_batch(input).filter(|&f| f > rows);
    if let Some(f) = pad_to {
        data.resize(data.len() / rows.max(1) * f, 0.0);
        shape[0] = f;
    }
    let tensor = Tensor::from_array((shape, data)).map_err(|e| e.to_string())?;
    let out = session
        .run(ort::inputs![input => tensor])
        .map_err(|e| format!("inference failed: {e}"))?;
    let mut result = Vec::new();
    for (name, value) in out.iter() {
        if let Ok((shape, values)) = value.try_extract_tensor::<f32>() {
            let mut shape = shape.to_vec();
            let mut values = values.to_vec();
            if let Some(f) = pad_to
                && shape.first() == Some(&(f as i64))
            {
                values.truncate(values.len() / f * rows);
                shape[0] = rows as i64;
            }
            result.push((name.to_string(), shape, values));
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MobileNetV2 of the shared models, with ONNX Runtime, or `None` with a note.
    fn mobilenet(test: &str) -> Option<PathBuf> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/models/mobilenet_v2_imagenet.onnx");
        if !p.is_file() {
            crate::fixtures::absent(test, &format!("{} is absent", p.display()));
            return None;
        }
        if let Err(e) = super::super::runtime::environment() {
            crate::fixtures::absent(test, &e);
            return None;
        }
        Some(p)
    }

    /// Rows of a deterministic input: row `i` of `[n, 3, 224, 224]`.
    fn rows(from: usize, n: usize) -> Vec<f32> {
        let len = 3 * 224 * 224;
        (from * len..(from + n) * len)
            .map(|k| ((k * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    }

    #[test]
    fn workers_share_one_session_and_gathering_changes_no_number() {
        let Some(model) = mobilenet("workers_share_one_session_and_gathering_changes_no_number")
        else {
            return;
        };
        // A thread count no other test uses: a session of its own.
        let threads = 3;
        let clients: Vec<Client> = (0..4)
            .map(|_| shared(&model, Provider::Cpu, threads).unwrap())
            .collect();
        assert!(
            clients
                .iter()
                .all(|c| Arc::ptr_eq(&c.service, &clients[0].service)),
            "one session for every worker"
        );
        assert_eq!(clients[0].service.clients.load(Ordering::SeqCst), 4);
        let service = Arc::downgrade(&clients[0].service);
        let input = clients[0].info().inputs[0].0.clone();
        // Alone: each worker's two rows as one solo inference.
        let alone: Vec<Outputs> = (0..4)
            .map(|w| {
                clients[w]
                    .run(
                        &input,
                        vec![2, 3, 224, 224],
                        rows(2 * w, 2),
                        usize::MAX,
                        true,
                    )
                    .unwrap()
            })
            .collect();
        // Together: four workers at once, gathered into shared inferences.
        let together: Vec<Outputs> = std::thread::scope(|s| {
            let handles: Vec<_> = clients
                .iter()
                .enumerate()
                .map(|(w, c)| {
                    let input = input.clone();
                    s.spawn(move || {
                        c.run(&input, vec![2, 3, 224, 224], rows(2 * w, 2), 8, false)
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (a, t) in alone.iter().zip(&together) {
            assert_eq!(a.len(), t.len());
            for ((na, sa, va), (nt, st, vt)) in a.iter().zip(t) {
                assert_eq!((na, sa), (nt, st));
                assert_eq!(sa[0], 2);
                assert!(
                    va.iter().zip(vt).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "output {na} differs when gathered"
                );
            }
        }
        // One row alone against the same row in a batch of eight.
        let one = clients[0]
            .run(&input, vec![1, 3, 224, 224], rows(3, 1), 1, true)
            .unwrap();
        let eight = clients[0]
            .run(&input, vec![8, 3, 224, 224], rows(0, 8), 8, true)
            .unwrap();
        for ((n1, _, v1), (_, _, v8)) in one.iter().zip(&eight) {
            let per = v1.len();
            assert!(
                v1.iter()
                    .zip(&v8[3 * per..4 * per])
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "output {n1}: a row alone differs from the same row in a batch"
            );
        }
        drop(clients);
        assert!(
            service.upgrade().is_none(),
            "the session goes with its last client"
        );
    }
}

/// What a stage builds once per process and every worker's instance shares
/// (a translation model's sessions, a zero-shot vocabulary embedded by a
/// text model), by `key`: the first worker's build opens it, the others get
/// the same [`Arc`] while one is alive. Held while it opens, so a second
/// worker waits rather than building its own copy. With
/// `FACET_SESSION_PER_WORKER=1` (the bench's baseline) each builds its own.
pub fn once_per_process<T: Send + Sync + 'static>(
    key: String,
    open: impl FnOnce() -> Result<T, StageError>,
) -> Result<Arc<T>, StageError> {
    type Shared = Weak<dyn std::any::Any + Send + Sync>;
    static R: OnceLock<Mutex<HashMap<(std::any::TypeId, String), Shared>>> = OnceLock::new();
    let mut held = R
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    held.retain(|_, v| v.strong_count() > 0);
    let key = (std::any::TypeId::of::<T>(), key);
    let private = facet_engine::runtime::session_per_worker();
    if !private
        && let Some(found) = held.get(&key).and_then(Weak::upgrade)
        && let Ok(value) = found.downcast::<T>()
    {
        return Ok(value);
    }
    let value = Arc::new(open()?);
    if !private {
        let any: Arc<dyn std::any::Any + Send + Sync> = value.clone();
        held.insert(key, Arc::downgrade(&any));
    }
    Ok(value)
}

#[cfg(test)]
mod once_tests {
    use super::*;

    #[test]
    fn once_per_process_shares_by_key_while_alive() {
        let opened = AtomicUsize::new(0);
        let open = || {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(vec![1u8, 2, 3])
        };
        let a = once_per_process("once-test a".into(), open).unwrap();
        let b = once_per_process("once-test a".into(), open).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        let c = once_per_process("once-test c".into(), open).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        // The same key of another type is another value.
        let d = once_per_process("once-test a".into(), || Ok(7u32)).unwrap();
        assert_eq!(*d, 7);
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        // Dropped by every holder: opened again.
        drop((a, b));
        let _e = once_per_process("once-test a".into(), open).unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 3);
        // A failure is returned and nothing is kept.
        let err = once_per_process::<u8>("once-test f".into(), || {
            Err(StageError::Config("no".into()))
        });
        assert!(err.is_err());
    }
}

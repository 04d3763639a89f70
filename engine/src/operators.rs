//! A worker's dataflow: the pipeline's stage graph as timely operators.
//!
//! Every stage is one operator, fed by the stages it runs `after`:
//!
//! ```text
//!   input ─┬─ decode ─┬─ thumbnail ───────────┐
//!          │          ├─ phash ───────────────┤
//!          │          ├─ quality ⇢ (thread) ──┼─ join by photo ─ sink
//!          │          └─ faces ⇢ (thread) ────┤
//!          └─ exif ───────────────────────────┘
//! ```
//!
//! * **Branches.** A stage with several `after` parents reads the *join* of
//!   their outputs; the stages nobody runs after (the leaves) are joined
//!   before the sink. A batch's parts that took different branches meet
//!   again by the batch's number on its worker ([`Item::seq`]); the join
//!   keeps the photos every part still has — a photo a branch failed leaves
//!   with that failure (when two branches fail it, the one of the stage first
//!   in the plan's order, as a straight chain would have recorded) — and
//!   puts the columns back in plan order (each column remembers the stage
//!   that added it), so the stored batch is the one a chain would produce.
//! * **Model stages off the worker's thread.** A stage that runs models is
//!   *offloaded*: its operator hands each batch to a thread of its own that
//!   owns the stage (whose model session is shared by every worker, see
//!   `facet_stages::onnx::shared`), keeps the batch's capability meanwhile,
//!   and emits the batch when the thread hands it back, woken by a
//!   [`SyncActivator`]. The worker goes on meanwhile: it admits the next
//!   batch and decodes it while the previous one is in the model — the
//!   CPU and the GPU (or the model's own threads) work at once. Inline
//!   stages (decode, the CPU measures) run on the worker's thread.
//!
//! Multi-pass runs keep every stage inline: their passes take turns in
//! memory, which batches in different passes at once would defeat.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt32Array,
};
use arrow_schema::{Field, Schema};
use crossbeam_channel::Sender;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::scheduling::SyncActivator;

use crate::{Failure, Plan, Reservation, Stage, StageCx};

/// A batch of photos in flight on one worker.
#[derive(Clone)]
pub(crate) struct Item {
    pub batch: RecordBatch,
    pub failures: Vec<Failure>,
    /// For each column of `batch`, the stage that added it: its position in
    /// the plan plus one (0: the source's file columns).
    pub origin: Vec<usize>,
    /// The batch's number on its worker (its parts meet again by it).
    pub seq: u64,
    pub reservation: Arc<Reservation>,
}

impl Item {
    pub fn new(batch: RecordBatch, reservation: Reservation) -> Item {
        Item {
            origin: vec![0; batch.num_columns()],
            batch,
            failures: Vec::new(),
            seq: 0,
            reservation: Arc::new(reservation),
        }
    }
}

/// The batches flowing between operators.
pub(crate) type Batches<'scope> = Stream<'scope, u64, Vec<Item>>;

/// The stage graph as a worker runs it, in the plan's order.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Per stage, the stages it reads (positions in [`Plan::stages`]), with
    /// those already upstream of another parent left out; empty: the source.
    pub parents: Vec<Vec<usize>>,
    /// The stages no other runs after: joined before the sink.
    pub leaves: Vec<usize>,
    /// A stage's position in the plan, by name (which failure a photo keeps).
    pub position: HashMap<String, usize>,
}

impl Graph {
    pub fn of(plan: &Plan) -> Graph {
        let position: HashMap<String, usize> = plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        // The plan is in topological order: a stage's parents come first.
        let mut upstream: Vec<HashSet<usize>> = Vec::with_capacity(plan.stages.len());
        let mut parents = Vec::with_capacity(plan.stages.len());
        for s in &plan.stages {
            // (The source, and stages a `choice:` left out, are not operators.)
            let direct: Vec<usize> = s
                .after
                .iter()
                .filter_map(|a| position.get(a).copied())
                .collect();
            let mut all: HashSet<usize> = HashSet::new();
            for &p in &direct {
                all.insert(p);
                all.extend(upstream[p].iter().copied());
            }
            let mut mine: Vec<usize> = direct
                .iter()
                .copied()
                .filter(|&p| !direct.iter().any(|&q| q != p && upstream[q].contains(&p)))
                .collect();
            mine.sort_unstable();
            mine.dedup();
            parents.push(mine);
            upstream.push(all);
        }
        let read: HashSet<usize> = parents.iter().flatten().copied().collect();
        let leaves = (0..plan.stages.len())
            .filter(|i| !read.contains(i))
            .collect();
        Graph {
            parents,
            leaves,
            position,
        }
    }
}

/// The worker's dataflow from `input` to the stream the sink reads: stage
/// `i` becomes `stage(i, its input)`; parents and leaves are joined.
pub(crate) fn build<'scope>(
    input: Batches<'scope>,
    graph: &Arc<Graph>,
    mut stage: impl FnMut(usize, Batches<'scope>) -> Batches<'scope>,
) -> Batches<'scope> {
    let mut outs: Vec<Batches<'scope>> = Vec::with_capacity(graph.parents.len());
    for i in 0..graph.parents.len() {
        let parts = match graph.parents[i].as_slice() {
            [] => vec![input.clone()],
            ps => ps.iter().map(|&p| outs[p].clone()).collect(),
        };
        let joined = join(parts, graph);
        outs.push(stage(i, joined));
    }
    if outs.is_empty() {
        return input;
    }
    join(
        graph.leaves.iter().map(|&l| outs[l].clone()).collect(),
        graph,
    )
}

/// One stream of the parts of each batch that came through `parts`.
fn join<'scope>(parts: Vec<Batches<'scope>>, graph: &Arc<Graph>) -> Batches<'scope> {
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one part");
    }
    let n = parts.len();
    let scope = parts[0].scope();
    let tagged: Vec<Stream<'scope, u64, Vec<(usize, Item)>>> = parts
        .into_iter()
        .enumerate()
        .map(|(k, s)| s.map(move |item: Item| (k, item)))
        .collect();
    let graph = graph.clone();
    scope
        .concatenate(tagged)
        .unary::<CapacityContainerBuilder<Vec<Item>>, _, _, _>(
            Pipeline,
            "join by photo",
            move |_, _| {
                let mut waiting: HashMap<u64, Vec<Option<Item>>> = HashMap::new();
                move |input, output| {
                    input.for_each(|cap, data| {
                        for (k, item) in data.drain(..) {
                            let seq = item.seq;
                            let slots = waiting.entry(seq).or_insert_with(|| vec![None; n]);
                            slots[k] = Some(item);
                            if slots.iter().all(Option::is_some) {
                                let parts = waiting.remove(&seq).expect("just filled");
                                let parts = parts.into_iter().flatten().collect();
                                output.session(&cap).give(merge(parts, &graph.position));
                            }
                        }
                    });
                }
            },
        )
}

/// The parts of one batch as one: the photos every part kept, each failed
/// photo once, the columns of every part in plan order.
pub(crate) fn merge(parts: Vec<Item>, position: &HashMap<String, usize>) -> Item {
    let rank = |f: &Failure| position.get(&f.stage).map_or(0, |p| p + 1);
    let mut failed: HashMap<String, Failure> = HashMap::new();
    for f in parts.iter().flat_map(|p| p.failures.iter()) {
        match failed.get(&f.path) {
            Some(had) if rank(had) <= rank(f) => {}
            _ => {
                failed.insert(f.path.clone(), f.clone());
            }
        }
    }
    let first = &parts[0];
    // The photos left, in the first part's order.
    let keep: Vec<String> = path_values(&first.batch)
        .into_iter()
        .filter(|p| !failed.contains_key(p))
        .collect();
    let mut columns: Vec<(usize, Field, ArrayRef)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for part in &parts {
        let rows: HashMap<String, u32> = path_values(&part.batch)
            .into_iter()
            .enumerate()
            .map(|(r, p)| (p, r as u32))
            .collect();
        // Every part comes from the same admitted rows, less its failures.
        let take = UInt32Array::from_iter(keep.iter().map(|p| rows.get(p).copied()));
        let schema = part.batch.schema();
        for (c, field) in schema.fields().iter().enumerate() {
            if !seen.insert(field.name().clone()) {
                continue;
            }
            let column = arrow_select::take::take(part.batch.column(c).as_ref(), &take, None)
                .expect("take rows of a valid batch");
            columns.push((part.origin[c], field.as_ref().clone(), column));
        }
    }
    columns.sort_by_key(|(origin, _, _)| *origin);
    let origin = columns.iter().map(|(o, _, _)| *o).collect();
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) =
        columns.into_iter().map(|(_, f, a)| (f, a)).unzip();
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(keep.len())),
    )
    .expect("columns of equal length");
    let mut failures: Vec<Failure> = failed.into_values().collect();
    failures.sort_by(|a, b| a.path.cmp(&b.path));
    Item {
        batch,
        failures,
        origin,
        seq: first.seq,
        reservation: first.reservation.clone(),
    }
}

fn path_values(batch: &RecordBatch) -> Vec<String> {
    string_column(batch, "path")
        .map(|p| {
            (0..p.len())
                .map(|r| p.value(r).to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
}

pub(crate) fn string_column(batch: &RecordBatch, name: &str) -> Option<StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
}

/// The threads of a worker's offloaded stages: closed and joined when the
/// worker is done (each thread then calls its stage's `finish`).
#[derive(Default)]
pub(crate) struct Offloads {
    threads: Vec<(Inbox, std::thread::JoinHandle<()>)>,
}

/// Where an offloaded stage's operator sends batches to its thread; taken
/// (closing the channel) when the worker is done.
type Inbox = Rc<RefCell<Option<Sender<Item>>>>;

impl Offloads {
    pub fn close(&mut self) {
        for (tx, _) in &self.threads {
            tx.borrow_mut().take();
        }
        for (_, thread) in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Stage `pos` (named `name`) on a thread of its own; see the module
/// documentation.
pub(crate) fn offload<'scope>(
    input: Batches<'scope>,
    name: String,
    pos: usize,
    stage: Box<dyn Stage>,
    offloads: &Rc<RefCell<Offloads>>,
) -> Batches<'scope> {
    let worker = input.scope().worker();
    let offloads = offloads.clone();
    let title = format!("{name} (own thread)");
    input.unary::<CapacityContainerBuilder<Vec<Item>>, _, _, _>(Pipeline, &title, move |_, info| {
        let activator: SyncActivator = worker.sync_activator_for(info.address.to_vec());
        let (to_stage, inbox) = crossbeam_channel::unbounded::<Item>();
        let (outbox, from_stage) = crossbeam_channel::unbounded::<Item>();
        let thread = std::thread::Builder::new()
            .name(format!("facet-{name}"))
            .spawn(move || {
                let mut stage = stage;
                for item in inbox {
                    let out = apply(&name, pos, stage.as_mut(), item);
                    if outbox.send(out).is_err() {
                        break;
                    }
                    // (Fails only once the worker is gone.)
                    let _ = activator.activate();
                }
                if let Err(e) = stage.finish() {
                    eprintln!("stage `{name}`: {e}");
                }
            })
            .expect("start a stage thread");
        let to_stage: Inbox = Rc::new(RefCell::new(Some(to_stage)));
        offloads
            .borrow_mut()
            .threads
            .push((to_stage.clone(), thread));
        let mut held = HashMap::new();
        move |input, output| {
            input.for_each(|cap, data| {
                for item in data.drain(..) {
                    if let Some(cap) = cap.retain_least(output.output_index()) {
                        held.insert(item.seq, cap);
                    }
                    if let Some(tx) = to_stage.borrow().as_ref() {
                        let _ = tx.send(item);
                    }
                }
            });
            while let Ok(item) = from_stage.try_recv() {
                if let Some(cap) = held.remove(&item.seq) {
                    output.session(&cap).give(item);
                }
            }
        }
    })
}

/// Runs one stage (plan position `pos`) over one batch; failed rows move to
/// `item.failures`, the columns it added remember it.
pub(crate) fn apply(name: &str, pos: usize, stage: &mut dyn Stage, mut item: Item) -> Item {
    let rows = item.batch.num_rows();
    if rows == 0 {
        return item;
    }
    let mut cx = StageCx::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        stage.process(item.batch.clone(), &mut cx)
    }));
    let (batch, failed): (RecordBatch, Vec<(usize, String)>) = match result {
        Ok(Ok(batch)) if batch.num_rows() == rows => (batch, cx.take_failed()),
        Ok(Ok(batch)) => {
            let reason = format!(
                "internal error (please report): stage returned {} rows for {rows}",
                batch.num_rows()
            );
            (
                item.batch.clone(),
                (0..rows).map(|r| (r, reason.clone())).collect(),
            )
        }
        Ok(Err(e)) => (
            item.batch.clone(),
            (0..rows).map(|r| (r, e.to_string())).collect(),
        ),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let reason = format!("internal error (please report): panic: {msg}");
            (
                item.batch.clone(),
                (0..rows).map(|r| (r, reason.clone())).collect(),
            )
        }
    };
    // Stages append their columns.
    item.origin.truncate(batch.num_columns());
    item.origin.resize(batch.num_columns(), pos + 1);
    if failed.is_empty() {
        item.batch = batch;
        return item;
    }
    let mut keep = vec![true; rows];
    let paths = string_column(&batch, "path");
    let sizes = batch
        .column_by_name("file_size")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned());
    let mtimes = batch.column_by_name("file_mtime").and_then(|c| {
        c.as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .cloned()
    });
    for (row, reason) in failed {
        if row >= rows || !keep[row] {
            continue;
        }
        keep[row] = false;
        item.failures.push(Failure {
            path: paths
                .as_ref()
                .map(|p| p.value(row).to_string())
                .unwrap_or_default(),
            file_size: sizes.as_ref().map_or(0, |s| s.value(row)),
            file_mtime_ns: mtimes.as_ref().map_or(0, |m| m.value(row)),
            stage: name.to_string(),
            reason,
        });
    }
    let mask = BooleanArray::from(keep);
    item.batch = arrow_select::filter::filter_record_batch(&batch, &mask)
        .expect("filter rows of a valid batch");
    item
}

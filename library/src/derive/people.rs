//! People from faces (`facet faces cluster|name|assign|hide`, and clustering
//! at the end of every `facet run` that stored faces): reads `faces`,
//! `persons` and `face_assignments`, runs [`facet_stages::faces::people`],
//! writes each face's `person_id` and the `persons` table.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{Float32Type, Float64Type, Int64Type, Schema};
use facet_config::FacetConfig;
use facet_stages::faces::people::{FaceIn, Person, cluster as cluster_faces};
use facet_store::{Dataset, Store};

use crate::failpoint::point;
use crate::{Error, Result, now_ns};

/// What a clustering did.
#[derive(Debug, Default)]
pub struct Clustered {
    /// Faces in the store.
    pub faces: usize,
    /// Faces read: every one in a full clustering, else the faces of nobody
    /// and of the persons the change reached.
    pub read: usize,
    pub assigned: usize,
    pub persons: usize,
    pub new_persons: usize,
    /// Why every face was read (`None`: only what the change reached).
    pub full: Option<String>,
    pub seconds: f64,
}

impl Clustered {
    /// The line `facet run` and `facet faces` print.
    pub fn summary(&self) -> String {
        let read = match &self.full {
            Some(why) => format!("every face read ({why})"),
            None => format!("{} read", self.read),
        };
        format!(
            "{} faces: {} in {} person(s) ({} new), {read}, in {:.2}s",
            self.faces, self.assigned, self.persons, self.new_persons, self.seconds
        )
    }
}

fn query(rt: &tokio::runtime::Runtime, store: &Store, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(rt.block_on(store.sql(sql))?.1)
}

fn floats(list: &ListArray, i: usize) -> Vec<f32> {
    if list.is_null(i) {
        return Vec::new();
    }
    list.value(i)
        .as_primitive_opt::<Float32Type>()
        .map(|a| a.values().to_vec())
        .unwrap_or_default()
}

fn int(a: &dyn Array, i: usize) -> Option<i64> {
    (!a.is_null(i)).then(|| a.as_primitive::<Int64Type>().value(i))
}

fn persons(rt: &tokio::runtime::Runtime, store: &Store) -> Result<Vec<Person>> {
    let mut out = Vec::new();
    for b in query(
        rt,
        store,
        "SELECT person_id, name, hidden, centroid, representative_face, face_count FROM persons",
    )? {
        let (name, hidden, centroid, rep) = (
            b.column(1).as_string::<i32>(),
            b.column(2).as_boolean(),
            b.column(3).as_list::<i32>(),
            b.column(4).as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            out.push(Person {
                person_id: int(b.column(0), i).unwrap_or_default(),
                name: (!name.is_null(i)).then(|| name.value(i).to_string()),
                hidden: !hidden.is_null(i) && hidden.value(i),
                centroid: floats(centroid, i),
                representative_face: (!rep.is_null(i)).then(|| rep.value(i).to_string()),
                face_count: int(b.column(5), i).unwrap_or_default() as usize,
            });
        }
    }
    Ok(out)
}

/// The faces matching the SQL predicate `filter` (every face with `None`),
/// in `face_id` order: the order a person's centroid is summed in, the
/// same whichever subset of the library is read.
fn faces_where(
    rt: &tokio::runtime::Runtime,
    ds: Option<&Dataset>,
    filter: Option<facet_store::Filter>,
) -> Result<Vec<FaceIn>> {
    let mut faces = Vec::new();
    let Some(ds) = ds else {
        return Ok(faces);
    };
    let columns = ["face_id", "embedding", "person_id", "confidence"];
    let mut scan = rt.block_on(async {
        match filter {
            Some(f) => facet_store::scan_where(ds, &columns, f).await,
            None => facet_store::scan(ds, &columns, None).await,
        }
    })?;
    while let Some(b) = rt.block_on(scan.next())? {
        let col = |n: &str| b.column_by_name(n).expect("projected");
        let (ids, emb, person, conf) = (
            col("face_id").as_string::<i32>(),
            col("embedding").as_list::<i32>(),
            col("person_id"),
            col("confidence").as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            faces.push(FaceIn {
                face_id: ids.value(i).to_string(),
                embedding: floats(emb, i),
                person_id: int(person, i),
                confidence: if conf.is_null(i) {
                    0.0
                } else {
                    conf.value(i) as f32
                },
            });
        }
    }
    faces.sort_unstable_by(|a, b| a.face_id.cmp(&b.face_id));
    Ok(faces)
}

/// Faces per person as stored, and the faces in the store (`has_faces`:
/// the table exists).
fn face_counts(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    has_faces: bool,
) -> Result<(HashMap<i64, usize>, usize)> {
    let mut counts = HashMap::new();
    let mut total = 0;
    if !has_faces {
        return Ok((counts, 0));
    }
    for b in query(
        rt,
        store,
        "SELECT person_id, count(*) FROM faces GROUP BY person_id",
    )? {
        let n = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            total += n.value(i) as usize;
            if let Some(p) = int(b.column(0), i) {
                counts.insert(p, n.value(i) as usize);
            }
        }
    }
    Ok((counts, total))
}

/// Clusters the stored faces into people (see `people`): existing ids,
/// names and manual assignments are kept.
///
/// Every face keeps its person, so what a clustering can change is the
/// faces of nobody (new faces, earlier noise) and the persons they join.
/// Unless `full`, only those are read: the faces of nobody, of the persons
/// whose stored face count no longer matches their faces (faces removed
/// with their photos), of the persons manual assignments move faces
/// between, and — found by clustering, then read, until none is left —
/// of the existing persons the faces of nobody join, so that each such
/// person's centroid and representative are computed from all of its
/// faces, as a full clustering computes them. The other persons keep their
/// stored rows. The outcome equals a full clustering's (a test runs both);
/// a face whose person is not in `persons` makes it a full one.
pub fn cluster(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    full: bool,
) -> Result<Clustered> {
    let started = Instant::now();
    let mut manual = HashMap::new();
    for b in query(rt, store, "SELECT face_id, person_id FROM face_assignments")? {
        let ids = b.column(0).as_string::<i32>();
        for i in 0..b.num_rows() {
            if let Some(p) = int(b.column(1), i) {
                manual.insert(ids.value(i).to_string(), p);
            }
        }
    }
    // In id order, as the clustering returns them.
    let mut before = persons(rt, store)?;
    before.sort_by_key(|p| p.person_id);
    let ds = rt.block_on(store.dataset("faces"))?;
    let ds = ds.as_ref();
    let (counts, total) = face_counts(rt, store, ds.is_some())?;
    let known: HashMap<i64, &Person> = before.iter().map(|p| (p.person_id, p)).collect();
    let why = if full {
        Some("asked for".to_string())
    } else {
        counts
            .keys()
            .find(|p| !known.contains_key(p))
            .map(|p| format!("faces of person {p}, who is not in `persons`"))
    };
    // Persons whose faces changed since their row was written, and both
    // ends of every manual assignment not yet applied (`None`: every face
    // is read).
    let mut reached: Option<BTreeSet<i64>> = match &why {
        Some(_) => None,
        None => {
            let mut reached: BTreeSet<i64> = before
                .iter()
                .filter(|p| counts.get(&p.person_id).copied().unwrap_or(0) != p.face_count)
                .map(|p| p.person_id)
                .collect();
            if !manual.is_empty() {
                let filter =
                    facet_store::filter::one_of("face_id", manual.keys().map(String::as_str));
                for f in faces_where(rt, ds, Some(filter))? {
                    let to = manual[&f.face_id];
                    if f.person_id != Some(to) {
                        reached.extend(f.person_id);
                        reached.extend(known.contains_key(&to).then_some(to));
                    }
                }
            }
            Some(reached)
        }
    };
    let (faces, out) = loop {
        let filter = reached.as_ref().map(|r| {
            use facet_store::filter::{is_null, one_of};
            if r.is_empty() {
                is_null("person_id")
            } else {
                is_null("person_id").or(one_of("person_id", r.iter().copied()))
            }
        });
        let faces = faces_where(rt, ds, filter)?;
        let out = cluster_faces(&faces, &before, &manual, &config.face_clustering);
        let Some(r) = reached.as_mut() else {
            break (faces, out);
        };
        let joined: Vec<i64> = out
            .assignments
            .iter()
            .flatten()
            .filter(|p| known.contains_key(p) && !r.contains(p))
            .copied()
            .collect();
        if joined.is_empty() {
            break (faces, out);
        }
        r.extend(joined);
    };
    // Only the faces whose person changed are written.
    let changed: Vec<(&str, Option<i64>)> = faces
        .iter()
        .zip(&out.assignments)
        .filter(|(f, a)| f.person_id != **a)
        .map(|(f, a)| (f.face_id.as_str(), *a))
        .collect();
    let faces_t = facet_schemas::faces();
    if !changed.is_empty() {
        let schema = Arc::new(Schema::new(vec![
            faces_t.column("face_id").expect("declared").field(),
            faces_t.column("person_id").expect("declared").field(),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(changed.iter().map(|c| c.0))),
                Arc::new(changed.iter().map(|c| c.1).collect::<Int64Array>()),
            ],
        )?;
        rt.block_on(store.update_columns(&faces_t, batch))?;
        rt.block_on(store.index_scalar("faces", "person_id"))?;
    }
    point!("people::faces_written");
    // The persons no face read belongs to keep their rows.
    let persons: Vec<Person> = match &reached {
        None => out.persons,
        Some(reached) => out
            .persons
            .into_iter()
            .map(|p| match known.get(&p.person_id) {
                Some(old) if !reached.contains(&p.person_id) => (*old).clone(),
                _ => p,
            })
            .collect(),
    };
    if !persons.is_empty() && persons != before {
        write_persons(rt, store, &persons)?;
    }
    Ok(Clustered {
        faces: total,
        read: faces.len(),
        assigned: persons.iter().map(|p| p.face_count).sum(),
        persons: persons.iter().filter(|p| p.face_count > 0).count(),
        new_persons: out.new_persons,
        full: why,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_persons(rt: &tokio::runtime::Runtime, store: &Store, persons: &[Person]) -> Result<()> {
    let t = facet_schemas::persons();
    let now = now_ns();
    let mut centroid = arrow::array::ListBuilder::new(arrow::array::Float32Builder::new());
    for p in persons {
        centroid.values().append_slice(&p.centroid);
        centroid.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            persons
                .iter()
                .map(|p| Some(p.person_id))
                .collect::<Int64Array>(),
        ),
        Arc::new(
            persons
                .iter()
                .map(|p| p.name.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            persons
                .iter()
                .map(|p| p.representative_face.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            persons
                .iter()
                .map(|p| Some(p.face_count as i64))
                .collect::<Int64Array>(),
        ),
        Arc::new(centroid.finish()),
        Arc::new(
            persons
                .iter()
                .map(|p| Some(p.hidden))
                .collect::<BooleanArray>(),
        ),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(persons.iter().map(|_| now))
                .with_timezone("UTC"),
        ),
    ];
    rt.block_on(store.replace(&t, RecordBatch::try_new(t.schema(), columns)?))?;
    Ok(())
}

fn person_exists(rt: &tokio::runtime::Runtime, store: &Store, id: i64) -> Result<Person> {
    match persons(rt, store)?.into_iter().find(|p| p.person_id == id) {
        Some(p) => Ok(p),
        None => Err(Error::NotFound(format!(
            "person {id}: no such person (`facet sql \"SELECT * FROM persons\"` lists them)"
        ))),
    }
}

/// Names a person (an empty name removes it), or hides/shows it.
pub fn edit_person(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    id: i64,
    name: Option<Option<String>>,
    hidden: Option<bool>,
) -> Result<()> {
    let mut all = persons(rt, store)?;
    person_exists(rt, store, id)?;
    for p in all.iter_mut().filter(|p| p.person_id == id) {
        if let Some(n) = &name {
            p.name = n.clone().filter(|n| !n.is_empty());
        }
        if let Some(h) = hidden {
            p.hidden = h;
        }
    }
    write_persons(rt, store, &all)
}

/// Puts a face in a person by hand; clustering never undoes it.
pub fn assign(rt: &tokio::runtime::Runtime, store: &Store, face_id: &str, id: i64) -> Result<()> {
    use datafusion::prelude::{col, lit};
    // The value reaches the query as a literal, never as text.
    let ctx = rt.block_on(store.session())?;
    let n = rt.block_on(async {
        ctx.table("faces")
            .await?
            .filter(col("face_id").eq(lit(face_id)))?
            .count()
            .await
    })?;
    if n == 0 {
        return Err(Error::NotFound(format!(
            "{face_id}: no such face (`facet sql \"SELECT face_id, path FROM faces\"` lists them)"
        )));
    }
    person_exists(rt, store, id)?;
    let t = facet_schemas::face_assignments();
    let batch = RecordBatch::try_new(
        t.schema(),
        vec![
            Arc::new(StringArray::from(vec![face_id])),
            Arc::new(Int64Array::from(vec![id])),
            Arc::new(TimestampNanosecondArray::from(vec![now_ns()]).with_timezone("UTC")),
        ],
    )?;
    rt.block_on(store.upsert(&t, batch))?;
    Ok(())
}

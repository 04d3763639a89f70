//! People from faces (`facet faces cluster|name|assign|hide`, and clustering
//! at the end of every `facet run` that stored faces): reads `faces`,
//! `persons` and `face_assignments`, runs [`facet_stages::faces::people`],
//! writes each face's `person_id` and the `persons` table.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{Float32Type, Float64Type, Int64Type, Schema};
use facet_config::FacetConfig;
use facet_stages::faces::people::{FaceIn, Person, cluster as cluster_faces};
use facet_store::Store;

use crate::failpoint::point;
use crate::{Error, Result, now_ns};

/// What a clustering did.
#[derive(Debug, Default)]
pub struct Clustered {
    pub faces: usize,
    pub assigned: usize,
    pub persons: usize,
    pub new_persons: usize,
    pub seconds: f64,
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

/// Clusters the stored faces into people (see `people`): existing ids,
/// names and manual assignments are kept.
pub fn cluster(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<Clustered> {
    let started = Instant::now();
    let mut faces = Vec::new();
    for b in query(
        rt,
        store,
        "SELECT face_id, embedding, person_id, confidence FROM faces",
    )? {
        let (ids, emb, conf) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_list::<i32>(),
            b.column(3).as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            faces.push(FaceIn {
                face_id: ids.value(i).to_string(),
                embedding: floats(emb, i),
                person_id: int(b.column(2), i),
                confidence: if conf.is_null(i) {
                    0.0
                } else {
                    conf.value(i) as f32
                },
            });
        }
    }
    let mut manual = HashMap::new();
    for b in query(rt, store, "SELECT face_id, person_id FROM face_assignments")? {
        let ids = b.column(0).as_string::<i32>();
        for i in 0..b.num_rows() {
            if let Some(p) = int(b.column(1), i) {
                manual.insert(ids.value(i).to_string(), p);
            }
        }
    }
    let before = persons(rt, store)?;
    let out = cluster_faces(&faces, &before, &manual, &config.face_clustering);
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
    }
    point!("people::faces_written");
    if !out.persons.is_empty() {
        write_persons(rt, store, &out.persons)?;
    }
    Ok(Clustered {
        faces: faces.len(),
        assigned: out.assignments.iter().flatten().count(),
        persons: out.persons.iter().filter(|p| p.face_count > 0).count(),
        new_persons: out.new_persons,
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
    let found = query(
        rt,
        store,
        &format!(
            "SELECT count(*) FROM faces WHERE face_id = '{}'",
            face_id.replace('\'', "''")
        ),
    )?;
    let n = found
        .first()
        .map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0));
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

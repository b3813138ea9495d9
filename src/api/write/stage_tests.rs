//! `stage` on a core of its own (one executor, a one-core mesh, no partitions opened): what a
//! body becomes before any cross-core step.

use super::*;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::lineproto::FieldType;
use glommio::channels::channel_mesh::MeshBuilder;
use std::sync::Arc;

/// Runs `f` with a core whose schema knows `cpu.usage` as a float, `partitions` partitions.
fn with_core<T: Send + 'static>(
    partitions: u32,
    f: impl FnOnce(Rc<Core>) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> T {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let (senders, _receivers) = MeshBuilder::full(1, 16).join().await.unwrap();
            let core = Core::new(
                Arc::new(Config::default()),
                Arc::new(Catalog::default()),
                partitions,
                Vec::new(),
                senders,
            );
            core.schema_mut()
                .learn("db", "rp", b"cpu", b"usage", FieldType::Float);
            f(core).await
        })
        .unwrap()
        .join()
        .unwrap()
}

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

#[test]
fn known_types_are_checked_here_and_unknown_fields_are_claimed_once() {
    let body = b"cpu,h=a usage=1 1\n\
                 cpu,h=b usage=\"x\" 2\n\
                 cpu,h=c usage=2,idle=3i 3\n\
                 cpu,h=d usage=4,idle=5i 4\n\
                 mem,h=a free=1i 5\n\
                 bad line\n";
    let st = with_core(4, move |core| {
        Box::pin(async move { stage(&core, "db", "rp", &opts(), i64::MIN, body).await })
    });
    assert_eq!(st.batches.len(), 4);
    // Line 2 conflicts with the known float: dropped here, before any claim.
    assert_eq!(st.dropped, 1);
    let (rank, reason) = st.first_drop.clone().unwrap();
    assert_eq!(rank, (1, 1));
    assert_eq!(
        reason,
        "field type conflict: input field \"usage\" on measurement \"cpu\" is type string, already exists as type float"
    );
    // Lines 3 and 4 use `idle` (unknown here) with the same fields: one claim for both, whole
    // (the known `usage` too); `mem` is a claim of its own.
    assert_eq!(st.claims.len(), 2);
    assert_eq!(st.claims[0].measurement, b"cpu");
    assert_eq!(
        st.claims[0].fields,
        vec![
            (b"usage".to_vec(), FieldType::Float),
            (b"idle".to_vec(), FieldType::Integer)
        ]
    );
    let unsure: Vec<(usize, usize)> = st.unsure_lines.iter().flatten().copied().collect();
    assert_eq!(unsure.len(), 3);
    let mut claims_of_lines: Vec<_> = unsure.iter().map(|&(line, c)| (line, c)).collect();
    claims_of_lines.sort();
    assert_eq!(claims_of_lines, vec![(2, 0), (3, 0), (4, 1)]);
    // Four points are staged (all but the conflicting one); the bad line is a parse error.
    let staged: usize = st.batches.iter().map(|b| b.iter().count()).sum();
    assert_eq!(staged, 4);
    assert_eq!((st.lines_ok, st.parse_error_count), (5, 1));
}

#[test]
fn the_outcome_names_the_first_drop_then_retention_then_parse_errors() {
    let body = b"cpu usage=1 10\ncpu usage=2 20\nnope\n";
    // Points before time 15 are beyond the retention policy.
    let st = with_core(1, move |core| {
        Box::pin(async move { stage(&core, "db", "rp", &opts(), 15, body).await })
    });
    assert_eq!(st.beyond_retention, 1);
    let e = st.outcome().unwrap_err();
    assert_eq!(
        e.to_string(),
        "partial write: points beyond retention policy dropped=1"
    );
    let st = with_core(1, move |core| {
        Box::pin(async move {
            stage(
                &core,
                "db",
                "rp",
                &opts(),
                i64::MIN,
                b"cpu usage=1 1\nnope\n",
            )
            .await
        })
    });
    let e = st.outcome().unwrap_err();
    assert_eq!(
        e.to_string(),
        "partial write: unable to parse 'nope': missing fields (line 2) dropped=0"
    );
}

//! The TSBS `cpu-only` row shape (timescale/tsbs `pkg/data/usecases/devops`), shared by the
//! benches and the load generator so they measure the same rows.

/// The 10 integer fields of a cpu-only row.
pub const CPU_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

//! The InfluxQL parser and SELECT planner on arbitrary text; each SELECT that plans is also run
//! over a few fixed rows. Invariant: no panic, whatever the query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineshard::query::{self, select, Statement};

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(statements) = query::parse(q, 1_600_000_000_000_000_000) else {
        return;
    };
    for s in statements {
        if let Statement::Select(s) = s {
            if let Ok(plan) = select::plan(&s, 1_600_000_000_000_000_000, &|n| n == "v") {
                let _ = select::execute(&plan, select::sample_rows(1_600_000_000_000_000_000));
            }
        }
    }
});

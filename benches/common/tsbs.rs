//! A TSBS cpu-only body shared by the benches: measurement `cpu`, 10 tags (hostname, region,
//! datacenter, rack, os, arch, team, service, service_version, service_environment; in TSBS
//! order, so unsorted), 10 integer fields `usage_user..usage_guest_nice` (values 0-100 like
//! TSBS), ns timestamps 10 s apart; `hosts` hosts x `intervals` intervals, interval by interval,
//! built deterministically (splitmix64 seeded with 1).

pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const FIELDS: [&str; 10] = lineshard::tsbs::CPU_FIELDS;

pub fn tsbs_cpu_only_body(hosts: usize, intervals: usize) -> Vec<u8> {
    let mut rng = SplitMix(1);
    let regions = [
        (
            "us-east-1",
            ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
        ),
        (
            "us-west-1",
            ["us-west-1a", "us-west-1b", "us-west-1c", "us-west-1a"],
        ),
        (
            "eu-central-1",
            [
                "eu-central-1a",
                "eu-central-1b",
                "eu-central-1a",
                "eu-central-1b",
            ],
        ),
        (
            "ap-southeast-2",
            [
                "ap-southeast-2a",
                "ap-southeast-2b",
                "ap-southeast-2a",
                "ap-southeast-2b",
            ],
        ),
    ];
    let tags: Vec<String> = (0..hosts)
        .map(|h| {
            let (region, dcs) = regions[(rng.next() % 4) as usize];
            let dc = dcs[(rng.next() % 4) as usize];
            format!(
                "cpu,hostname=host_{h},region={region},datacenter={dc},rack={},os={},arch={},team={},service={},service_version={},service_environment={}",
                rng.next() % 100,
                rng.pick(&["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"]),
                rng.pick(&["x64", "x86"]),
                rng.pick(&["SF", "NYC", "LON", "CHI"]),
                rng.next() % 20,
                rng.next() % 2,
                rng.pick(&["production", "staging", "test"]),
            )
        })
        .collect();
    let mut body = Vec::new();
    let t0: i64 = 1_451_606_400_000_000_000;
    for i in 0..intervals {
        for key in &tags {
            body.extend_from_slice(key.as_bytes());
            for (n, f) in FIELDS.iter().enumerate() {
                body.push(if n == 0 { b' ' } else { b',' });
                body.extend_from_slice(format!("{f}={}i", rng.next() % 101).as_bytes());
            }
            body.extend_from_slice(format!(" {}\n", t0 + i as i64 * 10_000_000_000).as_bytes());
        }
    }
    body
}

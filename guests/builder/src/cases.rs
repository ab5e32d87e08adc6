//! The argument sets every guest is checked with. `default` (empty
//! arguments) is the bench workload; `small` is a tiny, fast run for tests;
//! the others cover edge cases (empty input, padding boundaries, variants).

pub struct Case {
    pub name: &'static str,
    pub args: Vec<u8>,
}

fn u32s(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

pub fn cases(guest: &str) -> Vec<Case> {
    let extra: &[(&'static str, &[u32])] = match guest {
        "sieve" => &[("small", &[100]), ("n2", &[2]), ("n1e6", &[1_000_000])],
        "sha256" => &[("small", &[3]), ("empty", &[0]), ("n1000", &[1000])],
        "keccak" => &[("small", &[3]), ("empty", &[0]), ("sha3_1000", &[1000, 1]), ("n1000", &[1000])],
        "bigmul" => &[("small", &[1]), ("k0", &[0])],
        "sort" => &[("small", &[100]), ("empty", &[0]), ("n1", &[1])],
        "memops" => &[("small", &[1, 8192]), ("r0", &[0, 8192])],
        "bytecode" => &[("small", &[10]), ("n0", &[0])],
        "hashtable" => &[("small", &[1000]), ("n0", &[0])],
        "hostcall" => &[("small", &[10, 3]), ("nolog", &[1000, 0])],
        _ => &[("small", &[1])],
    };
    let mut cases = vec![Case { name: "default", args: Vec::new() }];
    for (name, words) in extra {
        cases.push(Case { name, args: u32s(words) });
    }
    cases
}

//! A seeded mutator for manifests: byte flips, insertions, deletions, and duplicated or dropped
//! lines. Shared by the engine's fuzz test and the end-to-end one (through the binary).

/// A small, fast, seeded pseudo-random generator (xorshift64*), so every failure reproduces.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next() % bound as u64) as usize
        }
    }
}

/// Bytes that matter to TOML or to wf, so that mutations reach deep into the checks.
const TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'",
    b"=",
    b",",
    b"\n",
    b"#",
    b"\\u0000",
    b"\xff",
    b"\xe9",
    b"\x1b[31m",
    b"{{ matrix.k }}",
    b"[tasks.x]",
    b"deps = [\"a\"]",
    b"matrix = { k = [1, 2] }",
    b"outputs = [\"o\"]",
    b"inputs = [\"**/*\"]",
    b"max_expansions = 1",
    b"cpus = 99",
];

/// One to four random mutations of `seed_text`.
pub fn mutate(seed_text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed_text.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            3 | 4 => {
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let i = rng.below(lines.len());
                if rng.below(2) == 0 {
                    let line = lines[i].clone();
                    lines.insert(rng.below(lines.len() + 1), line);
                } else if lines.len() > 1 {
                    lines.remove(i);
                }
                bytes = lines.join(&b'\n');
            }
            _ => {
                let byte = (rng.next() & 0xff) as u8;
                bytes.insert(at, byte);
            }
        }
    }
    bytes
}

/// The example manifests and the invalid fixtures of the repository, as bytes.
pub fn seeds(repo: &std::path::Path) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for folder in ["manifests", "tests/fixtures/invalid"] {
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(repo.join(folder))
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        paths.sort();
        seeds.extend(paths.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    seeds
}

//! Generated Go shapes that once made the lock rules quadratic or worse, timed at growing sizes:
//! many mutexes held at once, taken in one order by one function and in the other by another
//! (`lock-order-inversion` paired every held lock with every other and compared every pair with
//! every other function's: 200 globals took 41 s), and thousands of `Lock`/`Unlock` pairs in
//! one function (`mutex-empty-critical-section` listed the block's statements per `Lock`: 10,000
//! pairs took 73 s).
//!
//! `cargo bench --bench lock_shapes` (release build). Prints, per size, the time of a whole
//! check of the file (declarations, package summaries, every rule) and the ratio to the size
//! before: about 2 per doubling is linear, 4 quadratic. A number to read, not a timed test.

use std::fmt::Write;
use std::time::Instant;

use goconc_analysis::{analyze_alone, FileOptions, SourceFile};

/// `n` package mutexes; `Forward` locks them all in order, `Backward` in the opposite order.
fn many_held(n: usize) -> String {
    let mut src = String::from("package p\n\nimport \"sync\"\n\nvar (\n");
    for i in 0..n {
        writeln!(src, "\tmu{i} sync.Mutex").unwrap();
    }
    src.push_str(")\n\nfunc Forward() {\n");
    for i in 0..n {
        writeln!(src, "\tmu{i}.Lock()").unwrap();
    }
    for i in (0..n).rev() {
        writeln!(src, "\tmu{i}.Unlock()").unwrap();
    }
    src.push_str("}\n\nfunc Backward() {\n");
    for i in (0..n).rev() {
        writeln!(src, "\tmu{i}.Lock()").unwrap();
    }
    for i in 0..n {
        writeln!(src, "\tmu{i}.Unlock()").unwrap();
    }
    src.push_str("}\n");
    src
}

/// One function with `n` empty `Lock`/`Unlock` pairs of a package mutex.
fn sequential_pairs(n: usize) -> String {
    let mut src = String::from("package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc F() {\n");
    for _ in 0..n {
        src.push_str("\tmu.Lock()\n\tmu.Unlock()\n");
    }
    src.push_str("}\n");
    src
}

fn time(label: &str, sizes: &[usize], generate: fn(usize) -> String) {
    println!("{label}");
    let mut previous: Option<f64> = None;
    for &n in sizes {
        let text = generate(n);
        let file = SourceFile::new(text.clone());
        let start = Instant::now();
        let outcome = analyze_alone(&file, &FileOptions::default());
        let seconds = start.elapsed().as_secs_f64();
        let ratio = previous.map_or(String::new(), |p| format!("  ×{:.1}", seconds / p));
        println!(
            "  n = {n:>6}  {:>7} KB  {:>9.3} s  {:>6} findings{ratio}",
            text.len() / 1024,
            seconds,
            outcome.findings.len()
        );
        previous = Some(seconds);
    }
}

fn main() {
    time(
        "many mutexes held at once (lock-order-inversion)",
        &[250, 500, 1000, 2000, 4000],
        many_held,
    );
    time(
        "sequential Lock/Unlock pairs in one function (mutex-empty-critical-section)",
        &[2500, 5000, 10000, 20000, 40000],
        sequential_pairs,
    );
}

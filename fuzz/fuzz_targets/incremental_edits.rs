//! A typing session: a seed file (a fixture), then edits read from the input, each applied to
//! the tree as a server does; after every edit the incremental analysis must equal a fresh one,
//! declarations and findings, with a sibling file in the package declaring a struct the edited
//! file's methods lock.
#![no_main]

use std::sync::Arc;

use goconc_analysis::{analyze, FileDecls, FileOptions, IncrementalFile, PackageModel, SourceFile};
use libfuzzer_sys::fuzz_target;

/// Seeds: shapes every family reads (the fuzzer mutates the edits, not the seed's choice alone).
const SEEDS: [&str; 4] = [
    "package p\n\nimport \"sync\"\n\nfunc (s *S) A() {\n\ts.mu.Lock()\n\tif s.n > 0 {\n\t\treturn\n\t}\n\ts.mu.Unlock()\n}\n\nfunc (s *S) B() int {\n\ts.n++\n\treturn s.n\n}\n",
    "package p\n\nimport (\n\t\"context\"\n\t\"sync\"\n\t\"time\"\n)\n\nfunc F(ctx context.Context, wg *sync.WaitGroup, ch chan int) {\n\tfor i := 0; i < 3; i++ {\n\t\twg.Add(1)\n\t\tgo func() {\n\t\t\tdefer wg.Done()\n\t\t\tch <- i\n\t\t}()\n\t}\n\tctx, cancel := context.WithTimeout(ctx, time.Second)\n\t_ = ctx\n\t_ = cancel\n\tclose(ch)\n}\n",
    "package p\n\nimport (\n\t\"sync/atomic\"\n\t\"testing\"\n)\n\nvar n int64\n\nfunc TestX(t *testing.T) {\n\tgo func() {\n\t\tt.Fatal(\"x\")\n\t}()\n\tatomic.AddInt64(&n, 1)\n\tn = 2\n}\n",
    "package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc G(m map[string]int) {\n\tmu.Lock()\n\tdefer mu.Lock()\n\tselect {\n\tcase <-make(chan int):\n\t}\n\tm[\"a\"] = 1\n}\n",
];

const SIBLING: &str = "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int // guarded by mu\n}\n";

const PIECES: [&str; 14] = [
    "x", " ", "\n\t", "(", ")", "{", "}", "\"", "// é 😀\n", "mu.Lock()\n", "s.mu.Unlock()\n",
    "go func() {}()\n", "return\n", "func (s *S) C() {\n\ts.n = 1\n}\n",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, mut ops)) = data.split_first() else {
        return;
    };
    let sibling = SourceFile::new(SIBLING.to_string());
    let sibling_decls = FileDecls::collect(sibling.tree().root_node(), sibling.text());
    let package_of = |decls: &Arc<FileDecls>, _key: u64| {
        (
            Arc::new(PackageModel::from_files([decls.as_ref(), &sibling_decls])),
            0,
        )
    };
    let options = FileOptions::default();
    let mut file = SourceFile::new(SEEDS[usize::from(choice) % SEEDS.len()].to_string());
    let mut incremental = IncrementalFile::new();
    incremental.analyze(&file, &options, package_of);
    let mut edits = 0;
    while ops.len() >= 3 && edits < 24 {
        let text = file.text();
        let boundary = |mut at: usize| {
            at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        let start = boundary(usize::from(u16::from_le_bytes([ops[0], ops[1]])) % (text.len() + 1));
        let (range, insert) = match ops[2] {
            // A deletion of up to 15 bytes.
            op if op < 64 => (start..boundary(start + 1 + usize::from(op % 16)), String::new()),
            // Bytes from the input, when they are text.
            op if op < 96 => {
                let len = usize::from(op % 8).min(ops.len() - 3);
                let piece = String::from_utf8_lossy(&ops[3..3 + len]).into_owned();
                ops = &ops[len..];
                (start..start, piece)
            }
            op => (start..start, PIECES[usize::from(op) % PIECES.len()].to_string()),
        };
        ops = &ops[3..];
        file.edit(range, &insert).expect("ranges are char boundaries of the text");
        edits += 1;
        let (decls, outcome, _) = incremental.analyze(&file, &options, package_of);
        let fresh = SourceFile::new(file.text().to_string());
        let want_decls = FileDecls::collect(fresh.tree().root_node(), fresh.text());
        let package = PackageModel::from_files([&want_decls, &sibling_decls]);
        let want = analyze(&fresh, &package, &options);
        assert!(outcome.failed_rules.is_empty(), "{:?}", outcome.failed_rules);
        assert!(*decls == want_decls, "declarations differ after {edits} edits: {:?}", file.text());
        assert_eq!(outcome.findings, want.findings, "after {edits} edits: {:?}", file.text());
    }
});

#[test]
fn print_timeline() {
    let t = alloc_cookbook::fragmentation::churn_timeline(1, 100_000);
    println!("{}", alloc_cookbook::fragmentation::ChurnSample::TSV_HEADER);
    for s in t.iter().step_by(10) {
        println!("{}", s.tsv_row());
    }
    println!("{}", t.last().unwrap().tsv_row());
}

//! Every grid point of `tests/data/bincdf.json`: `BinCDF(n, p, x)` to the byte.

use eligibility::{bin_cdf, Fixed};
use serde_json::Value;

fn fixed_of(v: &Value) -> Fixed {
    let raw = hex::decode(v["bytes_le16"].as_str().expect("hex")).expect("valid hex");
    Fixed::from_le_bytes(&raw.try_into().expect("16 bytes"))
}

#[test]
fn grid() {
    let data: Value =
        serde_json::from_str(include_str!("data/bincdf.json")).expect("bincdf.json parses");
    let grid = data["grid"].as_array().expect("grid");
    assert_eq!(grid.len(), 448);
    let mut failures = Vec::new();
    for point in grid {
        let n = point["n"].as_i64().expect("n");
        let x = point["x"].as_i64().expect("x");
        let p = fixed_of(&point["p"]);
        let num = point["p_num"].as_u64().expect("p_num");
        let den = point["p_den"].as_u64().expect("p_den");
        assert_eq!(Fixed::div_u64(num, den), Ok(p), "p = {num}/{den}");
        assert_eq!(
            p.to_string(),
            point["p"]["string"].as_str().expect("string")
        );
        let want = fixed_of(&point["cdf"]);
        match bin_cdf(n, p, x) {
            Ok(got) if got == want => {
                assert_eq!(got.to_string(), point["cdf"]["string"].as_str().expect("s"));
                // serde_json's default float parsing may be off by an ulp, so compare loosely.
                let float = point["cdf"]["float"].as_f64().expect("float");
                assert!((got.to_f64() - float).abs() <= 2.0 * f64::EPSILON * float.abs());
            }
            other => failures.push(format!(
                "n={n} p={num}/{den} x={x}: got {other:?}, want {want}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

use volley::{Producer, Record};

fn main() -> volley::Result<()> {
    let bs = std::env::var("VOLLEY_BOOTSTRAP").unwrap_or("127.0.0.1:39501".into());
    let p = Producer::from_properties([("bootstrap.servers", bs.as_str())])?;
    let mut futs = Vec::new();
    for i in 0..1000 {
        let k = format!("key-{i}");
        let v = format!("value-{i}");
        futs.push(p.send(Record::new("smoke").key(k.as_str()).value(v.as_str()))?);
    }
    let mut ok = 0;
    for f in futs {
        match f.wait() {
            Ok(_) => ok += 1,
            Err(e) => println!("err {e}"),
        }
    }
    println!("ok {ok} metrics {:?}", p.metrics());
    p.close()?;
    Ok(())
}

fn main() {
    println!("volley {}", env!("CARGO_PKG_VERSION"));
}

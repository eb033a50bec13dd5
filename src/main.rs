fn main() {
    println!("solab: analyzer not built yet");
}

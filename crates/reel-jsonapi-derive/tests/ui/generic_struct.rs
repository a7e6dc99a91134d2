use reel_jsonapi::Resource;

#[derive(Resource)]
#[jsonapi(type = "boxes")]
struct Boxed<T> {
    #[jsonapi(id)]
    id: u64,
    value: T,
}

fn main() {}

"""vframe's test helpers, shared by the suite (tests/), the benchmark (bench/) and the long runs (tools/).
Not part of vframe's wheel: installed beside it from testkit/ (`make` does, editable).

    synth     synthetic videos whose every frame paints its own index, and reads it back
    truth     what a plain sequential decode says is shown at each moment (the exactness oracle)
    mp4       the MP4 (ISO base media) box walker
    fuzzing   seeded mutations of videos, and the contract a damaged video's answer is judged by
    hostile   the bad-input corpus and the canary its references name
    live      a real `vframe serve` in its own process
    origin    a real HTTP origin that counts what it serves and misbehaves on request
    s3server  a real S3-compatible server (moto's) in its own process
    stats     percentiles of timings"""

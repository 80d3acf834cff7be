{
  "targets": [{
    "target_name": "paciofs_aead",
    "sources": ["aead.c"],
    "cflags": ["-O2", "-Wall", "-Wextra"]
  }]
}

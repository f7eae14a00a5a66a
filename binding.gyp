{
  "targets": [
    {
      "target_name": "plugsock",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/socket.cc",
        "native/fd_utils.cc",
        "native/claim.cc",
        "native/claim_bind.cc",
        "native/claim_stage.cc",
        "native/claim_sweep.cc",
        "native/sock_diag.cc",
        "native/dir_fd.cc",
        "native/peercred_linux.cc",
        "native/peercred_darwin.cc",
        "native/connection_setup.cc",
        "native/scm_rights.cc",
        "native/fd_channel.cc",
        "native/fd_channel_write.cc",
        "native/fd_channel_read.cc",
        "native/abstract.cc",
        "native/systemd.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "PLUGSOCK_SOURCE_HASH=<!(node scripts/source-hash.js)"
      ],
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": { "CLANG_CXX_LANGUAGE_STANDARD": "c++17", "MACOSX_DEPLOYMENT_TARGET": "11.0" }
    }
  ]
}

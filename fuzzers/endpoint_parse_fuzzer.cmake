netrig_fuzzer(endpoint_parse LIBS netrig_net)

netrig_fuzzer(udp_flow LIBS netrig_udp netrig_udp_peers netrig_net)

netrig_fuzzer(datagram_oracle LIBS netrig_net)

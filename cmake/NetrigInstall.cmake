# install rules: filled in with the UDP issue (find_package(netrig CONFIG)).

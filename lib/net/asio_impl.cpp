// Asio's implementation, compiled once for the whole binary.
#include <boost/asio/impl/src.hpp>

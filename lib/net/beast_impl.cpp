// Beast's implementation, compiled once for the whole binary.
#include <boost/beast/src.hpp>

#include "gradoracle/oracle/gradcheck.hpp"

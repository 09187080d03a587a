#include "property_test.hpp"

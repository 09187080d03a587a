#include "gradoracle/oracle/closed_forms.hpp"

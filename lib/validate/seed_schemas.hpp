#pragma once
#include "validate/schema.hpp"

namespace zuperior::validate {

/// The seed's loginSchema: email (email, "Invalid email address"), password (min 8).
const schema& login_schema();
/// The seed's registerSchema: email, password (8-15 chars, upper, lower, digit, special),
/// optional name (1-100), optional phone (E.164-like).
const schema& register_schema();
/// The seed's orderSchema: symbol, side (buy|sell), volume > 0, orderType (market|limit|stop),
/// optional price/stopLoss/takeProfit > 0, accountId.
const schema& order_schema();

}  // namespace zuperior::validate

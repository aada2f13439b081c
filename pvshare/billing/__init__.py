"""Bills of an ACC operation: the PMO's prices, amounts in integer cents that add up."""

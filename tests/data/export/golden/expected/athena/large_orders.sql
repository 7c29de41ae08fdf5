SELECT size, COUNT(*) AS orders, SUM(amount) AS amount
FROM orders
GROUP BY size
